"""A fake Piwik PRO on 127.0.0.1, real HTTP, behaving as the seeds describe.

* ``POST /auth/token``: client credentials → ``{"token_type": "Bearer", "expires_in": ttl, "access_token"}``;
  wrong credentials → 401.
* ``GET /api/apps/v2/{id}``: JSON:API app document; 401 "JWT not found" without a token, "Expired JWT Token"
  after its lifetime, "access token not authorized" for an unknown token; 403 for a forbidden app, 404 for an
  unknown one; 415 unless ``Content-Type: application/vnd.api+json``.
* ``GET /api/tracker/v2/settings/app/url?app_url=HOST``: the app with that host among its URLs, else 404;
  ``POST /api/apps/v2`` (JSON:API body): a new app, 201.
* ``POST /ppms.php``: ``{"requests": [...]}`` (objects or ``?a=b`` strings) → 202. With an expired or unknown
  bearer token: 401. Without any token the hits are accepted but, as Piwik PRO does, those older than 24 hours
  are dropped (kept in ``dropped``).

Faults are scripted per endpoint with ``fail_next("track", ...)``: an HTTP status (with headers, e.g.
``Retry-After``), a slow answer, a dropped connection, or no answer at all (``hang``); a tracking request
dropped or left hanging may have its hits stored first (``store``). ``track_error`` makes the tracker answer
every request with a success status and a JSON body that reports an error, until it is cleared. Every request
is kept in ``requests``; every accepted hit in ``hits``, in arrival order.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JSON_API = "application/vnd.api+json"


@dataclass
class Fault:
    """What to do instead of (or before) answering one request."""

    status: int | None = None  # answer this status and record nothing
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    content_type: str = "text/plain"
    delay: float = 0.0  # sleep first; with status None the request is then handled normally
    drop: bool = False  # close the connection without an answer
    hang: bool = False  # never answer: the connection stays open until the server stops
    store: bool = False  # with drop or hang (tracking only): the hits are stored first, only the answer is lost


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeBase:
    """What every fake shares: a threaded HTTP server on 127.0.0.1, the requests it saw, scripted faults."""

    endpoints: tuple[str, ...] = ()

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.requests: list[Recorded] = []
        self.faults: dict[str, deque[Fault]] = {name: deque() for name in self.endpoints}
        self.lock = threading.Lock()
        #: Set when the server stops: a hanging request ends then.
        self.stopping = threading.Event()
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, endpoint: str, *faults: Fault) -> None:
        with self.lock:
            self.faults[endpoint].extend(faults)


class FakePiwikPro(FakeBase):
    endpoints = ("token", "apps", "track")

    def __init__(
        self,
        *,
        token_ttl: float = 1800.0,
        real_ttl: float | None = None,
        clients: dict[str, str] | None = None,
        apps: dict[str, list[str]] | None = None,
        forbidden_apps: tuple[str, ...] = (),
        track_delay: float = 0.0,
    ) -> None:
        super().__init__(_handler(self))
        self.token_ttl = token_ttl
        #: How long tokens really live (shorter than announced: the importer must cope with a 401).
        self.real_ttl = token_ttl if real_ttl is None else real_ttl
        self.clients = clients if clients is not None else {"client-id": "client-secret"}
        self.apps = apps if apps is not None else {"app-uuid-1": ["https://www.example.com"]}
        self.forbidden_apps = set(forbidden_apps)
        self.track_delay = track_delay
        #: While set: every tracking request is answered with this status and JSON body, which reports an error
        #: (``{"errors": [...]}``, ``{"status": "error"}``), and nothing is stored; None again, the tracker recovers.
        self.track_error: tuple[int, Any] | None = None
        self.tokens: dict[str, float] = {}
        self.token_fetches = 0
        self.hits: list[dict[str, str]] = []
        self.dropped: list[dict[str, str]] = []
        self.track_statuses: list[int] = []
        self.lookups: list[str] = []
        self.created: list[tuple[str, str]] = []

    def tracking_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/ppms.php")]

    # --- the endpoints ------------------------------------------------------------------------------------

    def token_state(self, headers: dict[str, str]) -> str:
        """'ok', 'missing', 'expired' or 'unknown'."""
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return "missing"
        expiry = self.tokens.get(auth[7:])
        if expiry is None:
            return "unknown"
        return "ok" if time.monotonic() < expiry else "expired"

    def issue_token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"error": "invalid_request", "message": "body is not JSON"}
        if data.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "message": "grant_type must be client_credentials",
            }
        if self.clients.get(data.get("client_id")) != data.get("client_secret"):
            return 401, {"error": "invalid_client", "message": "Client authentication failed"}
        with self.lock:
            self.token_fetches += 1
            token = f"token-{self.token_fetches}"
            self.tokens[token] = time.monotonic() + self.real_ttl
        return 200, {"token_type": "Bearer", "expires_in": self.token_ttl, "access_token": token}

    def store(self, headers: dict[str, str], body: bytes, state: str | None = None) -> tuple[int, Any]:
        """A tracking request as the tracker takes it: its status and answer (the hits kept in ``hits``)."""
        state = state or self.token_state(headers)
        if state in ("expired", "unknown"):
            self.track_statuses.append(401)
            return 401, {"code": 401, "message": _UNAUTHORIZED[state]}
        try:
            items = json.loads(body)["requests"]
            hits = [dict(parse_qsl(i.lstrip("?"))) if isinstance(i, str) else i for i in items]
            assert all(isinstance(v, str) for hit in hits for v in hit.values()), "every value a string"
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            self.track_statuses.append(400)
            return 400, {"error": f"bad bulk body: {exc}"}
        limit = datetime.now(timezone.utc) - timedelta(hours=24)
        with self.lock:
            for hit in hits:
                cdt = datetime.fromisoformat(hit["cdt"]).replace(tzinfo=timezone.utc) if "cdt" in hit else None
                if state == "missing" and cdt is not None and cdt < limit:
                    self.dropped.append(hit)
                else:
                    self.hits.append(hit)
            self.track_statuses.append(202)
        return 202, None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (kill -9 tests) resets its connection: not the server's error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_UNAUTHORIZED = {
    "missing": "JWT not found",
    "expired": "Expired JWT Token",
    "unknown": "access token not authorized",
}


def _handler(fake: FakePiwikPro) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(
            self,
            status: int,
            payload: Any = None,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            body = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
            try:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting (a timeout): nothing to answer

        def _record(self, body: bytes) -> dict[str, str]:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append(Recorded(self.command, self.path, headers, body))
            return headers

        def _fault(self, endpoint: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bool:
            """Apply the next scripted fault; True when it answered (or dropped) the request."""
            with fake.lock:
                fault = fake.faults[endpoint].popleft() if fake.faults[endpoint] else None
            if fault is None:
                return False
            if fault.delay:
                time.sleep(fault.delay)
            if fault.store and headers is not None:
                fake.store(headers, body)
            if fault.hang:
                fake.stopping.wait()
                self.close_connection = True
                return True
            if fault.drop:
                self.close_connection = True
                return True
            if fault.status is not None:
                if endpoint == "track":
                    fake.track_statuses.append(fault.status)
                self._answer(fault.status, fault.body.encode(), fault.headers, fault.content_type)
                return True
            return False

        def do_POST(self) -> None:
            body = self._body()
            headers = self._record(body)
            if self.path == "/auth/token":
                if not self._fault("token"):
                    self._answer(*fake.issue_token(body))
            elif self.path == "/api/apps/v2":
                if not self._fault("apps"):
                    self._create_app(headers, body)
            elif self.path.split("?")[0] == "/ppms.php":
                if not self._fault("track", headers, body):
                    self._track(headers, body)
            else:
                self._answer(404, {"message": "no route"})

        def do_GET(self) -> None:
            headers = self._record(b"")
            if self.path.startswith("/api/tracker/v2/settings/app/url?"):
                if not self._fault("apps"):
                    self._app_by_url(headers, dict(parse_qsl(self.path.split("?", 1)[1])).get("app_url", ""))
            elif self.path.startswith("/api/apps/v2/"):
                if not self._fault("apps"):
                    self._app(headers, self.path[len("/api/apps/v2/") :])
            else:
                self._answer(404, {"message": "no route"})

        def _app(self, headers: dict[str, str], app_id: str) -> None:
            state = fake.token_state(headers)
            if state != "ok":
                self._answer(401, {"code": 401, "message": _UNAUTHORIZED[state]})
            elif headers.get("content-type", JSON_API) != JSON_API:
                self._answer(
                    415,
                    {
                        "errors": [
                            {
                                "title": f'"{headers.get("content-type")}" is not a valid JSON '
                                f'API Content-Type header, use "{JSON_API}" instead'
                            }
                        ]
                    },
                )
            elif app_id in fake.forbidden_apps:
                self._answer(403, {"errors": [{"status": "403", "title": "Access denied"}]}, content_type=JSON_API)
            elif app_id not in fake.apps:
                self._answer(404, {"errors": [{"status": "404", "title": "Not found"}]}, content_type=JSON_API)
            else:
                doc = {
                    "data": {
                        "type": "ppms/app",
                        "id": app_id,
                        "attributes": {"name": app_id, "urls": fake.apps[app_id], "timezone": "UTC"},
                    }
                }
                self._answer(200, doc, content_type=JSON_API)

        def _app_by_url(self, headers: dict[str, str], host: str) -> None:
            state = fake.token_state(headers)
            if state != "ok":
                self._answer(401, {"code": 401, "message": _UNAUTHORIZED[state]})
                return
            with fake.lock:
                fake.lookups.append(host)
            for app_id, urls in fake.apps.items():
                if any(urlsplit(u).hostname == host for u in urls):
                    self._answer(200, {"data": {"type": "ppms/app", "id": app_id}}, content_type=JSON_API)
                    return
            self._answer(404, {"errors": [{"status": "404", "title": "Not found"}]}, content_type=JSON_API)

        def _create_app(self, headers: dict[str, str], body: bytes) -> None:
            state = fake.token_state(headers)
            if state != "ok":
                self._answer(401, {"code": 401, "message": _UNAUTHORIZED[state]})
                return
            if headers.get("content-type") != JSON_API:
                self._answer(415, {"errors": [{"title": f'use "{JSON_API}"'}]})
                return
            try:
                data = json.loads(body)["data"]
                assert data["type"] == "ppms/app"
                attributes = data["attributes"]
                name, urls = str(attributes["name"]), [str(u) for u in attributes["urls"]]
            except (ValueError, KeyError, TypeError, AssertionError):
                self._answer(400, {"errors": [{"title": "invalid JSON:API document"}]}, content_type=JSON_API)
                return
            with fake.lock:
                app_id = f"created-{len(fake.apps) + 1}"
                fake.apps[app_id] = urls
                fake.created.append((name, app_id))
            doc = {"data": {"type": "ppms/app", "id": app_id, "attributes": {"name": name, "urls": urls}}}
            self._answer(201, doc, content_type=JSON_API)

        def _track(self, headers: dict[str, str], body: bytes) -> None:
            state = fake.token_state(headers)  # checked on arrival, as a real server does
            if fake.track_delay:
                time.sleep(fake.track_delay)
            error = fake.track_error
            if error is not None:
                fake.track_statuses.append(error[0])
                self._answer(error[0], error[1])
                return
            status, payload = fake.store(headers, body, state)
            self._answer(status, payload)

    return Handler
