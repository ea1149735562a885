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

from import_logs.backends.base import EncodeSpec
from import_logs.filters import BOT, DOWNLOAD, ERROR, REDIRECT
from import_logs.hit import Hit
from import_logs.timeparse import format_cdt

MAX_URL = 1024
DEFAULT_ENDPOINT = "/ppms.php"
DEFAULT_PAYLOAD = 95
_CACHE_LIMIT = 100_000


class PiwikProEncoder:
    """``encoder(hit, flags)`` → the JSON text of one tracking request."""

    def __init__(self, spec: EncodeSpec) -> None:
        self.spec = spec
        self._t = spec.tracking
        self._idsite = spec.idsite
        self._scheme = urlsplit(spec.main_url).scheme or "https"
        self._main = spec.main_url.rstrip("/")
        self._dp = "0" if self._t.enable_reverse_dns else "1"
        self._bots = spec.enable_bots
        self._ts = (spec.client_name, spec.client_version)
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

    def params(self, hit: Hit, flags: int) -> dict[str, str]:
        url = self.url(hit)
        p = {
            "rec": "1",
            "apiv": "1",
            "idsite": self._idsite,
            "cdt": self.cdt(hit.time),
            "queuedtracking": "0",
            "dp": self._dp,
            "ua": hit.user_agent,
            "url": url,
        }
        if hit.ip:
            p["cip"] = hit.ip
        referrer = hit.referrer[:MAX_URL]
        if referrer:
            p["urlref"] = referrer
        if hit.userid:
            p["uid"] = hit.userid
        p["cvar"] = f'{{"1": ["HTTP-code", "{hit.status}"]}}'
        if self._bots:
            p["_cvar"] = json.dumps({"1": ["Bot" if flags & BOT else "Not-Bot", hit.user_agent]})
            p["bots"] = "1"
        if flags & DOWNLOAD:
            p["download"] = url
        if flags & (ERROR | REDIRECT):
            d = self._t.title_category_delimiter
            title = f"{hit.status}{d}URL = {quote(url, safe='')}"
            if referrer:
                title += f"{d}From = {quote(referrer, safe='')}"
            p["action_name"] = title
        if hit.generation_time_ms:
            p["gt_ms"] = str(hit.generation_time_ms)
        if hit.size > 0:
            p["bw_bytes"] = str(hit.size)
        p["ts_n"], p["ts_v"] = self._ts
        return p

    def __call__(self, hit: Hit, flags: int) -> str:
        return ujson.dumps(self.params(hit, flags), ensure_ascii=False, escape_forward_slashes=False)
