"""A fake Matomo and a fake Pirsch on 127.0.0.1, real HTTP, behaving as seeds 002 and 003 and the vendors'
public documentation describe.

FakeMatomo
* ``POST /matomo.php`` (and ``/piwik.php``): ``{"requests": ["?idsite=..."], "token_auth": ...}``. Answers
  ``{"status": "success", "tracked", "invalid", "invalid_indices"}``; a request for a site that does not exist,
  or whose URL holds ``invalid-me``, is invalid. An error answer (``{"status": "error", "message"}``) stores
  nothing of the batch (Matomo's bulk transaction): a wrong token; a ``cdt`` older than 24 hours or a ``cip``
  with a token without write access to the site; a hit whose URL holds ``reject-me``; a scripted lock timeout
  (``lock_timeouts``). ``silent_drops`` hits of the next batch are dropped with a success answer, as Matomo
  does on a lock timeout in the queue.
  Matomo 5.7+ (``version``) with ``BotTracking`` in ``plugins``: a request with ``recMode=1`` is a bot request,
  kept in ``bot_requests`` when its user agent is an AI assistant's and discarded otherwise (no visit either way);
  ``bots_tracked`` says whether the answer counts them in ``tracked``. An older Matomo ignores ``recMode``: the
  request becomes a visit, which is why the importer must never send it there.
  Matomo's fingerprint salt (``core/Tracker/FingerprintSalt.php``): each stored hit gets the salt of its site and
  day (``cdt`` in the site's ``timezones`` entry, UTC by default), in ``fingerprints`` (visitor address, site,
  day, salt) for each hit stored. A request that meets a day
  with no salt makes one and stores it when it ends (its bulk transaction commits), ``salt_window`` seconds later;
  a request under way meanwhile does not see it and makes its own, which overwrites the first (``Option::set``):
  the visitors of the two requests then have two fingerprints, and Matomo two visits for each.
* ``POST /index.php``: the Reporting API (form body, ``{"result": "error"}`` with HTTP 200 when it refuses):
  ``UsersManager.createAppSpecificTokenAuth``, ``API.getMatomoVersion``, ``SitesManager.getSiteFromId``,
  ``SitesManager.getSitesIdFromSiteUrl``, ``SitesManager.addSite`` (super user only).

FakePirsch
* ``POST /api/v1/token``: client id and secret → ``{"access_token", "expires_at"}``, else 401.
* ``POST /api/v1/hit/batch``: a JSON array of hits with ``url``, ``ip``, ``user_agent`` and an RFC 3339
  ``time``; a bearer token or an access key (``pa_...``). Errors as ``{"validation": {...}, "error": [...]}``.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fake_server import FakeBase, Recorded


class _Fake(FakeBase):
    """A fake whose endpoints are answered by ``route``."""

    def __init__(self) -> None:
        super().__init__(_handler(self))

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[str, Any] | None:
        """(endpoint name, handler result) or None for no route; overridden."""
        raise NotImplementedError


class FakeMatomo(_Fake):
    endpoints = ("track", "api")

    def __init__(
        self,
        *,
        sites: dict[str, str] | None = None,
        tokens: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        #: site id → main URL
        self.sites = dict(sites if sites is not None else {"1": "https://www.example.com"})
        #: token → "super", "write" or "view"
        self.tokens = dict(tokens if tokens is not None else {"secret-token": "write", "super-token": "super"})
        self.users = dict(users if users is not None else {"admin": "admin-password"})
        self.hits: list[dict[str, str]] = []
        self.invalid: list[dict[str, str]] = []
        self.lock_timeouts = 0
        #: Active plugins, as API.isPluginActivated answers (Matomo 5 dropped CustomVariables from core).
        self.plugins = {"CustomVariables", "BulkTracking"}
        self.silent_drops = 0
        self.api_calls: list[dict[str, str]] = []
        #: What API.getMatomoVersion answers; 5.7 and later with BotTracking active record bot-mode requests.
        self.version = "5.2.0"
        self.bot_requests: list[dict[str, str]] = []
        self.bots_tracked = True
        #: site id → its time zone, as SitesManager.getSiteFromId gives it (UTC when absent).
        self.timezones: dict[str, str] = {}
        #: (site, day) → the fingerprint salt stored (committed) for it; and how long a request that makes one
        #: takes to commit it.
        self.salts: dict[tuple[str, str], str] = {}
        self.salt_window = 0.0
        self.fingerprints: list[tuple[str, str, str, str]] = []

    def records_bots(self) -> bool:
        major, minor = (int(part) for part in self.version.split(".")[:2])
        return (major, minor) >= (5, 7) and "BotTracking" in self.plugins

    def tracking_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0] in ("/matomo.php", "/piwik.php")]

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[str, Any] | None:
        if method != "POST":
            return None
        bare = path.split("?")[0]
        if bare in ("/matomo.php", "/piwik.php"):
            return "track", self.track(body)
        if bare in ("/index.php", "/"):
            return "api", self.api(dict(parse_qsl(body.decode())))
        return None

    # --- tracking -----------------------------------------------------------------------------------------

    def track(self, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body)
            items = data["requests"]
            hits = [dict(parse_qsl(i.lstrip("?"), keep_blank_values=True)) if isinstance(i, str) else i for i in items]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return 400, {"status": "error", "message": f"bulk body: {exc}"}
        token = data.get("token_auth")
        access = self.tokens.get(token) if token else None
        if token and access is None:
            return 400, {"status": "error", "message": "token_auth is not valid: unable to authenticate."}
        with self.lock:
            if self.lock_timeouts:
                self.lock_timeouts -= 1
                return 500, {"status": "error", "message": "Mysql error: Lock wait timeout exceeded", "tracked": 0}
        limit = datetime.now(timezone.utc) - timedelta(hours=24)
        stored: list[dict[str, str]] = []
        invalid: list[int] = []
        bots = 0
        for index, hit in enumerate(hits):
            if hit.get("recMode") == "1" and self.records_bots():
                agent = hit.get("ua", "").lower()
                if any(name in agent for name in ("chatgpt-user", "claude-user", "perplexity-user", "duckassistbot")):
                    with self.lock:
                        self.bot_requests.append(hit)
                bots += 1
                continue
            if "reject-me" in hit.get("url", ""):
                return 400, {"status": "error", "message": f"Invalid request: url {hit['url']}", "tracked": 0}
            if hit.get("idsite") not in self.sites or "invalid-me" in hit.get("url", ""):
                invalid.append(index)
                continue
            cdt = hit.get("cdt")
            if cdt and access not in ("write", "super"):
                when = datetime.fromisoformat(cdt).replace(tzinfo=timezone.utc)
                if when < limit:
                    age = int((datetime.now(timezone.utc) - when).total_seconds())
                    return 400, {
                        "status": "error",
                        "message": f"Custom timestamp is {age} seconds old, requires &token_auth...",
                    }
            if hit.get("cip") and access not in ("write", "super"):
                return 400, {"status": "error", "message": "cip: requires &token_auth with write permission"}
            stored.append(hit)
        salted, made = self._salt(stored)
        if made:
            time.sleep(self.salt_window)  # the transaction is still open: nobody else sees the new salts
            with self.lock:
                self.salts.update(made)
        with self.lock:
            drops = min(self.silent_drops, len(stored))
            self.silent_drops -= drops
            kept = stored[: len(stored) - drops]
            self.fingerprints.extend(salted[: len(kept)])
            self.hits.extend(kept)
            self.invalid.extend(hits[i] for i in invalid)
        tracked = len(kept) + (bots if self.bots_tracked else 0)
        return 200, {"status": "success", "tracked": tracked, "invalid": len(invalid), "invalid_indices": invalid}

    def _salt(self, stored: list[dict[str, str]]) -> tuple[list[tuple[str, str, str, str]], dict[tuple[str, str], str]]:
        """Each hit's (visitor, site, day, salt): the salt this request reads, or makes; and the salts it made."""
        made: dict[tuple[str, str], str] = {}
        salted = []
        for hit in stored:
            site, cdt = hit.get("idsite", ""), hit.get("cdt")
            when = datetime.fromisoformat(cdt) if cdt else datetime.now(timezone.utc)
            day = when.replace(tzinfo=timezone.utc).astimezone(_zone(self.timezones.get(site, "UTC")))
            key = (site, day.strftime("%Y-%m-%d"))
            with self.lock:
                salt = self.salts.get(key)
            if salt is None:
                salt = made.setdefault(key, secrets.token_hex(8))
            salted.append((hit.get("cip", ""), *key, salt))
        return salted, made

    # --- the Reporting API ---------------------------------------------------------------------------------

    def api(self, form: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            self.api_calls.append(form)
        method = form.get("method", "")

        def error(message: str) -> tuple[int, Any]:
            return 200, {"result": "error", "message": message}

        if form.get("module") != "API" or form.get("format") != "json":
            return error("module=API&format=json expected")
        if method == "UsersManager.createAppSpecificTokenAuth":
            if self.users.get(form.get("userLogin", "")) != form.get("passwordConfirmation"):
                return error("The current password you entered is not correct.")
            token = f"app-token-{len(self.tokens)}"
            with self.lock:
                self.tokens[token] = "super"
            return 200, {"value": token}
        access = self.tokens.get(form.get("token_auth", ""))
        if access is None:
            return error("Unable to authenticate with the provided token. It is either invalid or expired.")
        if method == "API.isPluginActivated":
            return 200, {"value": form.get("pluginName") in self.plugins}
        if method == "API.getMatomoVersion":
            return 200, {"value": self.version}
        if method == "SitesManager.getSiteFromId":
            site = form.get("idSite", "")
            if site not in self.sites:
                return error(f"An unexpected website was found in the request: website id was set to '{site}' .")
            zone = self.timezones.get(site, "UTC")
            return 200, {"idsite": site, "name": site, "main_url": self.sites[site], "timezone": zone}
        if method == "SitesManager.getSitesIdFromSiteUrl":
            host = urlsplit(form.get("url", "")).hostname or form.get("url", "")
            return 200, [{"idsite": i} for i, url in self.sites.items() if urlsplit(url).hostname == host]
        if method == "SitesManager.addSite":
            if access != "super":
                return error("You can't access this resource as it requires 'superuser' access.")
            with self.lock:
                new = str(max((int(i) for i in self.sites), default=0) + 1)
                self.sites[new] = form.get("urls[0]", "")
            return 200, {"value": int(new)}
        return error(f"The method '{method}' does not exist or is not available.")


class FakePirsch(_Fake):
    endpoints = ("token", "track")

    def __init__(
        self, *, clients: dict[str, str] | None = None, keys: tuple[str, ...] = ("pa_access-key",), ttl: float = 600
    ) -> None:
        super().__init__()
        self.clients = dict(clients if clients is not None else {"pirsch-client": "pirsch-secret"})
        self.keys = set(keys)
        self.ttl = ttl
        self.tokens: dict[str, float] = {}
        self.hits: list[dict[str, Any]] = []

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[str, Any] | None:
        if method == "POST" and path == "/api/v1/token":
            return "token", self.token(body)
        if method == "POST" and path == "/api/v1/hit/batch":
            return "track", self.batch(headers, body)
        return None

    def token(self, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"error": ["the body is not JSON"]}
        if self.clients.get(data.get("client_id")) != data.get("client_secret"):
            return 401, {"validation": {}, "error": ["client not found"]}
        with self.lock:
            token = f"pirsch-token-{len(self.tokens) + 1}"
            self.tokens[token] = time.time() + self.ttl
        expires = datetime.fromtimestamp(time.time() + self.ttl, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f123Z")
        return 200, {"access_token": token, "expires_at": expires}

    def batch(self, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in self.keys and self.tokens.get(token, 0) < time.time():
            return 401, {"error": ["unauthorized"]}
        try:
            hits = json.loads(body)
            assert isinstance(hits, list)
        except (ValueError, AssertionError):
            return 400, {"error": ["the body must be a JSON array of hits"]}
        for hit in hits:
            missing = [k for k in ("url", "ip", "user_agent") if not hit.get(k)]
            if missing:
                return 400, {"validation": {k: "required" for k in missing}, "error": []}
            try:
                datetime.fromisoformat(str(hit.get("time", "")).replace("Z", "+00:00"))
            except ValueError:
                return 400, {"validation": {"time": "must be RFC 3339"}, "error": []}
        with self.lock:
            self.hits.extend(hits)
        return 200, None


def _zone(name: str) -> Any:
    if name.startswith("UTC") and len(name) > 3:
        return timezone(timedelta(hours=float(name[3:])))
    if name == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _handler(fake: _Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _answer(
            self,
            status: int,
            payload: Any,
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
                self.close_connection = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append(Recorded(self.command, self.path, headers, body))
            endpoint = _endpoint_of(fake, self.command, self.path)
            if endpoint is not None:
                with fake.lock:
                    fault = fake.faults[endpoint].popleft() if fake.faults[endpoint] else None
                if fault is not None:
                    if fault.delay:
                        time.sleep(fault.delay)
                    if fault.drop:
                        self.close_connection = True
                        return
                    if fault.status is not None:
                        self._answer(fault.status, fault.body.encode(), fault.headers, fault.content_type)
                        return
            routed = fake.route(self.command, self.path, headers, body)
            if routed is None:
                self._answer(404, {"message": "no route"})
                return
            status, payload = routed[1]
            self._answer(status, payload)

        do_POST = _handle
        do_GET = _handle

    return Handler


def _endpoint_of(fake: _Fake, method: str, path: str) -> str | None:
    bare = path.split("?")[0]
    if isinstance(fake, FakeMatomo):
        return "track" if bare in ("/matomo.php", "/piwik.php") else "api" if bare in ("/index.php", "/") else None
    if isinstance(fake, FakePirsch):
        return {"/api/v1/token": "token", "/api/v1/hit/batch": "track"}.get(bare)
    return None
