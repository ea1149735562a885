"""Piwik PRO tracking requests, built as Piwik PRO's importer builds them (reference §6), minus its bugs.

Runs in the workers. Every value is a string; the request is JSON-encoded here, once.
Fixed against the reference: redirects get their ``action_name`` too, ``cip=-`` and an empty ``uid`` are
never sent, ``ts_n``/``ts_v`` name this client.
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote, urlsplit

import ujson

from import_logs.backends.base import SITE_PLACEHOLDER, EncodeSpec
from import_logs.backends.replay import replay_params
from import_logs.filters import BOT, DOWNLOAD, ERROR, REDIRECT
from import_logs.parsing.hit import Hit
from import_logs.parsing.timeparse import format_cdt

MAX_URL = 1024


def normalise_url(url: str) -> str:
    """``example.piwik.pro`` → ``https://example.piwik.pro`` (Piwik PRO's default scheme), no trailing slash;
    the scheme and the host lowercased, so that ``HTTP://X`` and ``http://x`` are one destination."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    scheme, rest = url.split("://", 1)
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    return f"{scheme.lower()}://{userinfo}{at}{host.lower()}{slash}{path}".rstrip("/")


_CACHE_LIMIT = 100_000


def _json(text: str) -> str:
    """The JSON string literal of ``text``, non-ASCII kept, ``/`` not escaped.

    Most values (URLs, paths) need no escape: printable text without ``"`` or ``\\`` (``isprintable`` is
    False for control characters, DEL, U+2028/U+2029 and lone surrogates) is only quoted, which costs a
    fraction of a ``ujson`` call; the rest goes through ``ujson``.
    """
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return str(ujson.dumps(text, ensure_ascii=False, escape_forward_slashes=False))


class _Escaped(dict[str, str]):
    """JSON string literals of values that repeat (user agents, referrers, IPs), made once each."""

    def __missing__(self, key: str) -> str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        value = self[key] = _json(key)
        return value


class PiwikProEncoder:
    """``encoder(hit, flags)`` → the JSON text of one tracking request, built in one pass.

    The keys and fixed values are written once into a prefix; each string value is JSON-escaped once, and
    values that repeat across lines (user agent, referrer, IP, the UTC time of each second) come from caches.
    """

    def __init__(self, spec: EncodeSpec) -> None:
        self.spec = spec
        t = self._t = spec.tracking
        self._scheme = urlsplit(spec.main_url).scheme or "https"
        self._main = spec.main_url.rstrip("/")
        self._bots = spec.enable_bots
        self.site = SITE_PLACEHOLDER if spec.per_hit_site else spec.idsite
        self.dp = "0" if t.enable_reverse_dns else "1"
        self._prefix = f'{{"rec":"1","apiv":"1","idsite":{_json(self.site)},"queuedtracking":"0","dp":"{self.dp}"'
        self._suffix = f',"ts_n":{_json(spec.client_name)},"ts_v":{_json(spec.client_version)}}}'
        self._esc = _Escaped()
        self._cdt: dict[datetime, str] = {}

    def cdt(self, time: datetime) -> str:
        cache = self._cdt
        try:
            return cache[time]
        except KeyError:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            text = cache[time] = format_cdt(time)
            return text

    def page_cvars(self, hit: Hit) -> str | None:
        """The ``cvar`` JSON: regex-group page variables, HTTP-method, then HTTP-code last (None: that alone)."""
        entries = list(hit.page_cvars)
        if self._t.track_http_method and hit.method and hit.method != "-":
            entries.append(("HTTP-method", hit.method))
        if not entries:
            return None
        entries.append(("HTTP-code", str(hit.status)))
        return json.dumps({str(i): [name, value] for i, (name, value) in enumerate(entries, 1)})

    def visit_cvars(self, hit: Hit, flags: int) -> str | None:
        """The ``_cvar`` JSON: regex-group visit variables, then Bot/Not-Bot with --enable-bots."""
        entries = list(hit.visit_cvars)
        if self._bots:
            entries.append(("Bot" if flags & BOT else "Not-Bot", hit.user_agent))
        if not entries:
            return None
        return json.dumps({str(i): [name, value] for i, (name, value) in enumerate(entries, 1)})

    def title(self, status: int, url: str, referrer: str) -> str:
        """The title of an error or a redirect: ``404/URL = <quoted url>/From = <quoted referrer>``."""
        d = self._t.title_category_delimiter
        title = f"{status}{d}URL = {quote(url, safe='')}"
        if referrer:
            title += f"{d}From = {quote(referrer, safe='')}"
        return title

    def url(self, hit: Hit) -> str:
        path = hit.path
        if hit.query and not self._t.strip_query_string:
            path = f"{path}{self._t.query_string_delimiter}{hit.query}"
        path = path[:MAX_URL]
        if not path.startswith("/"):
            return path
        if hit.host:
            return f"{self._scheme}://{hit.host}{path}"
        return self._main + path

    def __call__(self, hit: Hit, flags: int) -> str:
        esc = self._esc
        url = self.url(hit)
        url_json = _json(url)
        parts = [self._prefix, ',"cdt":"', self.cdt(hit.time), '","ua":', esc[hit.user_agent], ',"url":', url_json]
        add = parts.append
        if hit.ip:
            add(',"cip":')
            add(esc[hit.ip])
        referrer = hit.referrer[:MAX_URL]
        if referrer:
            add(',"urlref":')
            add(esc[referrer])
        if hit.userid:
            add(',"uid":')
            add(_json(hit.userid))
        page = self.page_cvars(hit) if hit.page_cvars or self._t.track_http_method else None
        if page is None:
            add(f',"cvar":"{{\\"1\\": [\\"HTTP-code\\", \\"{hit.status}\\"]}}"')
        else:
            add(',"cvar":')
            add(_json(page))
        visit = self.visit_cvars(hit, flags) if hit.visit_cvars or self._bots else None
        if visit is not None:
            add(',"_cvar":')
            add(_json(visit))
        if self._bots:
            add(',"bots":"1"')
        if flags & DOWNLOAD:
            add(',"download":')
            add(url_json)
        if flags & (ERROR | REDIRECT):
            add(',"action_name":')
            add(_json(self.title(hit.status, url, referrer)))
        if hit.generation_time_ms:
            add(f',"gt_ms":"{hit.generation_time_ms}"')
        if hit.size > 0:
            add(f',"bw_bytes":"{hit.size}"')
        add(self._suffix)
        return "".join(parts)

    def replay(self, hit: Hit, params: dict[str, str]) -> str:
        """A logged tracking request, as an object of its parameters (the site first)."""
        return str(
            ujson.dumps(
                replay_params(hit, params, self.cdt(hit.time), self.site, dp=self.dp),
                ensure_ascii=False,
                escape_forward_slashes=False,
            )
        )
