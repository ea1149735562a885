"""The retry policy and the shared OAuth token, against httpx.MockTransport."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from import_logs.config import HttpOptions
from import_logs.errors import ServerError
from import_logs.http import Retrier, retry_after
from import_logs.wire import BearerAuth, TokenSource


def scripted(*answers: int | type[Exception] | httpx.Response) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if queue else 200
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, type):
            raise answer("scripted", request=request)  # type: ignore[call-arg]
        return httpx.Response(answer, text=f"answer {answer}")

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def retrier(waits: list[float], attempts: int = 3, stop_after: int | None = None, **kw: float) -> Retrier:
    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return stop_after is not None and len(waits) >= stop_after

    options = HttpOptions(max_attempts=attempts, retry_delay=kw.get("delay", 1.0), max_wait=kw.get("max_wait", 300))
    return Retrier(options, sleep=sleep, jitter=lambda: 0.5)


def test_5xx_and_dropped_connections_are_retried_with_exponential_back_off() -> None:
    client, seen = scripted(500, httpx.RemoteProtocolError, 200)
    waits: list[float] = []
    response = retrier(waits).request(client, "POST", "http://t/ppms.php")
    assert response.status_code == 200 and len(seen) == 3
    assert waits == [1.0, 2.0]


def test_timeouts_are_retried() -> None:
    client, seen = scripted(httpx.ReadTimeout, 202)
    waits: list[float] = []
    assert retrier(waits).request(client, "GET", "http://t/").status_code == 202
    assert len(seen) == 2


def test_429_waits_for_retry_after_within_the_bound() -> None:
    client, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(429, headers={"Retry-After": "9999"}),
        200,
    )
    waits: list[float] = []
    retrier(waits, max_wait=60).request(client, "GET", "http://t/")
    assert waits == [7.0, 60.0]


def test_other_answers_are_returned_for_the_caller_to_judge() -> None:
    client, seen = scripted(400)
    assert retrier([]).request(client, "GET", "http://t/").status_code == 400
    assert len(seen) == 1


def test_the_budget_ends_with_a_clear_error() -> None:
    client, seen = scripted(503, 503, 503, 200)
    with pytest.raises(ServerError) as info:
        retrier([]).request(client, "POST", "http://t/ppms.php")
    assert len(seen) == 3
    assert info.value.status == 503 and info.value.attempts == 3
    assert str(info.value).startswith("POST http://t/ppms.php failed after 3 attempt(s): HTTP 503 answer 503.")


def test_a_stop_cuts_the_wait_short() -> None:
    client, seen = scripted(503, 503, 503)
    with pytest.raises(ServerError):
        retrier([], attempts=10, stop_after=1).request(client, "GET", "http://t/")
    assert len(seen) == 1


def test_retry_after_as_a_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(response) == 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def counting_fetch(ttl: float = 100.0) -> tuple[Callable[[], tuple[str, float]], list[str]]:
    issued: list[str] = []

    def fetch() -> tuple[str, float]:
        issued.append(f"t{len(issued) + 1}")
        return issued[-1], ttl

    return fetch, issued


def test_token_is_reused_then_renewed_before_expiry() -> None:
    clock = Clock()
    fetch, issued = counting_fetch(100.0)
    tokens = TokenSource(fetch, clock=clock)
    assert tokens.get() == tokens.get() == "t1"
    clock.now = 89.0
    assert tokens.get() == "t1"
    clock.now = 91.0  # within the last 10 % of its life
    assert tokens.get() == "t2"
    assert issued == ["t1", "t2"]


def test_one_renewal_serves_every_lane_after_a_401() -> None:
    fetch, issued = counting_fetch()
    tokens = TokenSource(fetch)
    stale = tokens.get()
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(tokens.renew(stale))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert issued == ["t1", "t2"] and set(results) == {"t2"}


def test_bearer_auth_resends_once_after_a_401() -> None:
    fetch, _ = counting_fetch()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401 if len(seen) == 1 else 202)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    response = client.post("http://t/ppms.php", content=b"{}", auth=BearerAuth(TokenSource(fetch)))
    assert response.status_code == 202
    assert seen == ["Bearer t1", "Bearer t2"]


def test_secrets_do_not_show_in_reprs() -> None:
    fetch, _ = counting_fetch()
    tokens = TokenSource(fetch)
    tokens.get()
    assert "t1" not in repr(tokens) and "t1" not in repr(BearerAuth(tokens))


# --- the Poster: tracking POSTs written by import-logs itself, against real servers on 127.0.0.1 -------------


class _Recorder:
    """A tiny HTTP/1.1 server that records each request and answers from a script (keep-alive)."""

    def __init__(self, answers: list[tuple[int, bytes] | None]) -> None:
        import http.server

        self.answers = answers
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.seen.append((self.path, dict(self.headers), body))
                answer = recorder.answers.pop(0) if recorder.answers else (202, b"")
                if answer is None:  # drop the connection without an answer
                    self.close_connection = True
                    return
                status, text = answer
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _poster(**changes: object) -> tuple[object, httpx.Client]:
    from dataclasses import replace

    from import_logs.http import make_client
    from import_logs.poster import Poster

    options = replace(HttpOptions(timeout=2.0), **changes)  # type: ignore[arg-type]
    client = make_client(options)
    return Poster(options, client), client


def test_the_poster_sends_on_one_connection_with_its_headers_suffix_and_token() -> None:
    from import_logs.config import Secret

    server = _Recorder([(401, b"expired"), (202, b""), (200, b'{"ok": 1}')])
    tokens = TokenSource(iter([("t1", 60.0), ("t2", 60.0)]).__next__)
    poster, client = _poster(basic_user="u", basic_password=Secret("p"), request_suffix="&x=1")
    try:
        first = poster.request("POST", f"{server.url}/ppms.php?a=b", content=b"[1]", auth=BearerAuth(tokens))  # type: ignore[attr-defined]
        second = poster.request("POST", f"{server.url}/ppms.php", content=b"[2]", headers={"X-Y": "z"})  # type: ignore[attr-defined]
    finally:
        poster.close()  # type: ignore[attr-defined]
        client.close()
        server.close()
    assert first.status_code == 202 and second.status_code == 200 and second.json() == {"ok": 1}
    paths = [path for path, _, _ in server.seen]
    assert paths == ["/ppms.php?a=b&x=1", "/ppms.php?a=b&x=1", "/ppms.php?x=1"]
    auth = [headers["Authorization"] for _, headers, _ in server.seen]
    assert auth[:2] == ["Bearer t1", "Bearer t2"]  # renewed once after the 401
    assert auth[2].startswith("Basic ")
    assert server.seen[2][1]["X-Y"] == "z" and server.seen[2][1]["Content-Type"] == "application/json"
    assert [body for _, _, body in server.seen] == [b"[1]", b"[1]", b"[2]"]


def test_the_poster_fails_as_httpx_does_so_the_retrier_judges_it_alike() -> None:
    server = _Recorder([None, (503, b"busy"), (202, b"")])
    poster, client = _poster()
    retrier = Retrier(HttpOptions(retry_delay=0.0, max_attempts=3), sleep=lambda _s: False)
    try:
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
            poster.request("POST", f"{server.url}/t", content=b"[]")  # type: ignore[attr-defined]
        answer = retrier.request(poster, "POST", f"{server.url}/t", content=b"[]")  # type: ignore[arg-type]
    finally:
        poster.close()  # type: ignore[attr-defined]
        client.close()
        server.close()
    assert answer.status_code == 202
    with pytest.raises(httpx.ConnectError):
        closed, other = _poster()
        try:
            closed.request("POST", server.url + "/t", content=b"[]")  # type: ignore[attr-defined]
        finally:
            other.close()


def test_the_poster_leaves_to_httpx_what_goes_through_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    poster, client = _poster()
    calls: list[str] = []
    monkeypatch.setattr(client, "request", lambda method, url, **kw: calls.append(url) or httpx.Response(202))
    answer = poster.request("POST", "http://tracker.example/ppms.php", content=b"[]")  # type: ignore[attr-defined]
    assert answer.status_code == 202 and calls == ["http://tracker.example/ppms.php"]


class _Scripted:
    """A server that reads each request whole and writes the next scripted answer as raw bytes (then closes the
    connection when the script says so): the answers HTTP/1.1 allows that a tracker seldom sends."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn, conn.makefile("rb") as reader:
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = int(
                        next(
                            v
                            for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                            if k.lower() == b"content-length"
                        )
                    )
                    self.requests.append(head + reader.read(length))
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break

    def close(self) -> None:
        self.sock.close()


def test_the_poster_reads_every_kind_of_answer_http_allows() -> None:
    server = _Scripted(
        [
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'4;x=y\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nT: 1\r\n\r\n',
                False,
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n", False),
            (b"HTTP/1.1 204 No Content\r\n\r\n", False),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", True),
            (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end", True),
            (b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", False),
        ]
    )
    poster, client = _poster()
    try:
        answers = [poster.request("POST", f"{server.url}/t", content=b"[%d]" % i) for i in range(6)]  # type: ignore[attr-defined]
    finally:
        poster.close()  # type: ignore[attr-defined]
        client.close()
        server.close()
    assert [a.status_code for a in answers] == [200, 202, 204, 200, 200, 202]
    assert answers[0].json() == {"a": 1}
    assert answers[3].text == "ok" and answers[4].text == "to the end"
    assert server.connections == 3  # a new connection after each answer that closed its own
    first = server.requests[0].decode()
    assert first.startswith("POST /t HTTP/1.1\r\nHost: 127.0.0.1:") and first.endswith("Content-Length: 3\r\n\r\n[0]")
    assert "User-Agent: import-logs/" in first and "Content-Type: application/json" in first


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"", "Server disconnected without sending a response"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ended after 5 of its 10 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a chunk size of"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "longer than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", "more than 100 headers"),
    ],
)
def test_a_broken_answer_is_a_protocol_error_the_retrier_judges(answer: bytes, why: str) -> None:
    server = _Scripted([(answer, True)])
    poster, client = _poster()
    try:
        with pytest.raises(httpx.RemoteProtocolError, match=why):
            poster.request("POST", f"{server.url}/t", content=b"[]")  # type: ignore[attr-defined]
    finally:
        poster.close()  # type: ignore[attr-defined]
        client.close()
        server.close()


def test_a_silent_server_is_a_read_timeout() -> None:
    sock = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog), never answers
    poster, client = _poster(timeout=0.3)
    try:
        with pytest.raises(httpx.ReadTimeout):
            poster.request("POST", f"http://127.0.0.1:{sock.getsockname()[1]}/t", content=b"[]")  # type: ignore[attr-defined]
    finally:
        poster.close()  # type: ignore[attr-defined]
        client.close()
        sock.close()


def test_a_stop_starts_no_new_attempt_and_announces_none() -> None:
    client, seen = scripted(503, 503, 503)
    said: list[str] = []
    stop = threading.Event()

    def sleep(_seconds: float) -> bool:
        return stop.is_set()

    options = HttpOptions(max_attempts=3, retry_delay=0.0)
    retrier = Retrier(options, sleep=sleep, on_retry=said.append, stopped=stop.is_set)
    stop.set()  # asked to stop while the first attempt was under way
    with pytest.raises(ServerError):
        retrier.request(client, "POST", "http://t/ppms.php")
    assert len(seen) == 1 and said == []


def test_abort_ends_a_request_the_server_never_answers_at_once() -> None:
    sock = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog), never answers
    poster, client = _poster(timeout=60.0)
    failed: list[BaseException] = []

    def post() -> None:
        try:
            poster.request("POST", f"http://127.0.0.1:{sock.getsockname()[1]}/t", content=b"[]")  # type: ignore[attr-defined]
        except httpx.HTTPError as exc:
            failed.append(exc)

    lane = threading.Thread(target=post, daemon=True)
    try:
        lane.start()
        time.sleep(0.3)  # the request is written; its answer is awaited
        poster.abort()  # type: ignore[attr-defined]
        lane.join(5.0)
        assert not lane.is_alive(), "the lane still waits for its answer"
        assert len(failed) == 1 and isinstance(failed[0], httpx.RemoteProtocolError)
        with pytest.raises(httpx.ConnectError, match="stopping"):  # nothing new starts once aborted
            poster.request("POST", f"http://127.0.0.1:{sock.getsockname()[1]}/t", content=b"[]")  # type: ignore[attr-defined]
    finally:
        poster.close()  # type: ignore[attr-defined]
        client.close()
        sock.close()
