"""The tracking POSTs, the hot path: HTTP/1.1 written and read here, one keep-alive connection per lane.

Everything else (the API calls, and every request when a proxy applies) goes through the httpx client of
:mod:`import_logs.http`; the Poster answers as that client does, so the :class:`~import_logs.http.Retrier` judges
both alike.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx

from import_logs.config import HttpOptions
from import_logs.wire import USER_AGENT, BearerAuth


class Poster:
    """The tracking POSTs, the hot path: HTTP/1.1 written and read here on one keep-alive connection per lane
    (thread), with headers built once. Everything else goes through the httpx client: the API calls, and every
    request when a proxy applies (from the environment, as httpx takes it).

    It answers as :meth:`httpx.Client.request` does (an :class:`httpx.Response`, httpx's exceptions), so the
    :class:`Retrier` judges it alike; a :class:`BearerAuth` is applied here, with one more attempt after a 401.
    Measured (issue #16), user CPU per 43 kB request: through httpx's Client ~950 µs, through ``http.client``
    160-240 µs (which parses each answer's headers with the ``email`` package), this ~60 µs.
    """

    def __init__(self, options: HttpOptions, client: httpx.Client) -> None:
        self.options = options
        self.client = client
        self._local = threading.local()
        self._headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", "Connection": "keep-alive"}
        if options.basic_user is not None:
            password = options.basic_password.reveal() if options.basic_password else ""
            self._headers["Authorization"] = httpx.BasicAuth(options.basic_user, password)._auth_header
        self._suffix = options.request_suffix.lstrip("?&") if options.request_suffix else ""
        self._tls: ssl.SSLContext | None = None
        self._direct: dict[str, bool] = {}
        self._targets: dict[str, _Target] = {}
        #: Every connection opened, for close() (each lane keeps its own in a thread-local pool).
        self._opened: list[_Wire] = []
        self._lock = threading.Lock()
        #: Set by abort(): no connection is opened any more.
        self._aborted = False

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        content = kwargs.pop("content", None)
        headers = kwargs.pop("headers", None) or {}
        auth = kwargs.pop("auth", None)
        if kwargs or method != "POST" or not isinstance(content, bytes) or not self._is_direct(url):
            return self.client.request(method, url, content=content, headers=headers, auth=auth, **kwargs)
        target = self._targets.get(url)
        if target is None:
            target = self._target(url)
        sent = {**self._headers, **headers}
        token = None
        if isinstance(auth, BearerAuth):
            token = auth.tokens.get()
            sent["Authorization"] = f"Bearer {token}"
        response = self._post(target, content, sent)
        if response.status_code == 401 and token is not None and isinstance(auth, BearerAuth):
            sent["Authorization"] = f"Bearer {auth.tokens.renew(token)}"
            response = self._post(target, content, sent)
        return response

    def _target(self, url: str) -> _Target:
        """A URL as it is posted to (with --request-suffix), parsed once per URL, not per batch."""
        parsed = httpx.URL(url)
        if self._suffix:
            query = parsed.query.decode("ascii")
            parsed = parsed.copy_with(query=(f"{query}&{self._suffix}" if query else self._suffix).encode("ascii"))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        host = parsed.host
        authority = f"[{host}]" if ":" in host else host
        if parsed.port is not None:
            authority += f":{parsed.port}"
        found = self._targets[url] = _Target(
            parsed.scheme, host, port, authority, parsed.raw_path.decode("ascii"), httpx.Request("POST", parsed)
        )
        return found

    def _is_direct(self, url: str) -> bool:
        """No proxy applies to this URL's host (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY)."""
        found = self._direct.get(url)
        if found is None:
            proxies = urllib.request.getproxies()
            target = httpx.URL(url)
            found = not (proxies.get(target.scheme) or proxies.get("all")) or bool(
                urllib.request.proxy_bypass(target.host)
            )
            self._direct[url] = found
        return found

    def _wire(self, to: _Target) -> _Wire:
        """This lane's open connection to the target's server, or a new one."""
        key = (to.scheme, to.host, to.port)
        pool: dict[Any, _Wire] = self._local.__dict__.setdefault("pool", {})
        wire = pool.get(key)
        if wire is not None and _readable(wire.sock):
            wire.close()  # closed by the server while idle (or junk waiting): not to be reused
            wire = None
        if wire is None:
            wire = pool[key] = self._connect(to)
            with self._lock:
                self._opened = [w for w in self._opened if not w.closed]
                self._opened.append(wire)
            if self._aborted:  # abort() ran while this one connected: it never saw it
                wire.shutdown()
        return wire

    def _connect(self, to: _Target) -> _Wire:
        if self._aborted:
            raise httpx.ConnectError("the import is stopping", request=to.request)
        try:
            sock = socket.create_connection(
                (to.host, to.port), timeout=min(self.options.connect_timeout, self.options.timeout)
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=to.request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=to.request) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if to.scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                    if not self.options.verify_tls:
                        self._tls.check_hostname = False
                        self._tls.verify_mode = ssl.CERT_NONE
                sock = self._tls.wrap_socket(sock, server_hostname=to.host)
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(str(exc) or "TLS handshake timed out", request=to.request) from exc
        except OSError as exc:  # ssl.SSLError included: the Retrier finds it behind this one
            sock.close()
            raise httpx.ConnectError(str(exc), request=to.request) from exc
        sock.settimeout(self.options.timeout)
        return _Wire(sock)

    def _post(self, to: _Target, body: bytes, headers: dict[str, str]) -> httpx.Response:
        wire = self._wire(to)
        lines = [f"POST {to.path} HTTP/1.1\r\nHost: {to.authority}\r\nAccept-Encoding: identity\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"invalid value of the {name} header")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        sent = False
        try:
            wire.sock.sendall("".join(lines).encode("latin-1") + body)
            sent = True
            status, answer_headers, data, will_close = _read_answer(wire.reader)
        except TimeoutError as exc:
            wire.close()
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=to.request) from exc
        except (_BadAnswer, OSError) as exc:
            wire.close()
            if sent:
                raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=to.request) from exc
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=to.request) from exc
        if will_close:
            wire.close()
        return httpx.Response(status, headers=answer_headers, content=data, request=to.request)

    def abort(self) -> None:
        """End the requests under way now, whatever the server does: every connection is shut down, so a lane
        waiting for an answer gets the end of the stream at once (closing alone wakes no thread blocked on the
        socket, and closing its reader would wait for that thread). Takes no lock: safe from a signal handler."""
        self._aborted = True
        for wire in list(self._opened):
            wire.shutdown()

    def close(self) -> None:
        self.abort()
        with self._lock:
            for wire in self._opened:
                wire.close()
            self._opened.clear()


@dataclass(frozen=True)
class _Target:
    """Where a tracking URL is posted: its server, ``Host`` header, path with query, and the request that
    httpx's exceptions and answers name."""

    scheme: str
    host: str
    port: int
    authority: str
    path: str
    request: httpx.Request


class _Wire:
    """One keep-alive connection: the socket and its buffered reader."""

    __slots__ = ("closed", "reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.closed = False

    def shutdown(self) -> None:
        """Both directions ended: a thread blocked reading or writing it returns at once."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        for part in (self.reader, self.sock):
            with contextlib.suppress(OSError):
                part.close()


class _BadAnswer(Exception):
    """What came back is not an HTTP/1.x answer (or it ended before it was whole)."""


#: Bounds on what a server's answer may make us read into memory (as http.client's).
_MAX_LINE = 65536
_MAX_HEADERS = 100


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _BadAnswer("an answer line longer than 64 KiB")
    return line


def _read_answer(reader: BinaryIO) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """One answer: status, headers, body (Content-Length, chunked, or up to the end), and whether the
    connection ends with it. Informational (1xx) answers before it are passed over."""
    while True:
        line = _line(reader)
        if not line:
            raise _BadAnswer("Server disconnected without sending a response.")  # as httpx says it
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, _reason = rest.strip().partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise _BadAnswer(f"not an HTTP/1.x status line: {line[:80]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        while True:
            line = _line(reader)
            if line in (b"\r\n", b"\n", b""):
                break
            if len(headers) >= _MAX_HEADERS:
                raise _BadAnswer(f"more than {_MAX_HEADERS} headers")
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers.append((name.strip(), value.strip()))
        if not 100 <= status < 200:
            break
    fields = {name.lower(): value for name, value in headers}
    connection = fields.get("connection", "").lower()
    will_close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
    if status in (204, 304):
        return status, headers, b"", will_close
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, headers, _chunked(reader), will_close
    length = fields.get("content-length")
    if length is None:  # the body runs to the end of the connection
        return status, headers, reader.read(), True
    if not length.isdigit():
        raise _BadAnswer(f"Content-Length {length!r}")
    data = reader.read(int(length))
    if len(data) < int(length):
        raise _BadAnswer(f"the answer ended after {len(data)} of its {length} bytes")
    return status, headers, data, will_close


def _chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadAnswer(f"a chunk size of {size_text[:20]!r}") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        chunk = reader.read(size)
        if len(chunk) < size:
            raise _BadAnswer("the answer ended inside a chunk")
        if _line(reader) not in (b"\r\n", b"\n"):
            raise _BadAnswer("a chunk longer than its size")
        parts.append(chunk)


def _readable(sock: socket.socket) -> bool:
    """Something (or the end) is waiting on an idle connection: the server closed it, or sent what nobody asked."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
