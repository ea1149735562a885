"""Matomo tracking requests (reference §6, Matomo's column), as ``"?idsite=1&rec=1&..."`` strings.

Runs in the workers. The bulk API takes query strings as well as objects; a query string is what a tracker
request looks like in Matomo's own logs, and the form Matomo documents for bulk tracking (seed 002).
Fixed against the reference: no ``cip=-``, no empty ``uid``, an empty ``urlref`` is left out.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from import_logs.backends.base import SITE_PLACEHOLDER, EncodeSpec
from import_logs.backends.piwikpro_encode import MAX_URL, PiwikProEncoder, _json
from import_logs.backends.replay import replay_params
from import_logs.filters import DOWNLOAD, ERROR, REDIRECT
from import_logs.parsing.hit import Hit

_CACHE_LIMIT = 100_000


def _q(text: str) -> str:
    return quote(text, safe="")


class _Quoted(dict[str, str]):
    """URL-encoded values that repeat (user agents, referrers, IPs), made once each."""

    def __missing__(self, key: str) -> str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        value = self[key] = _q(key)
        return value


class MatomoEncoder(PiwikProEncoder):
    """``encoder(hit, flags)`` → the JSON string literal of one ``?...`` tracking request."""

    def __init__(self, spec: EncodeSpec) -> None:
        super().__init__(spec)
        self._head = f"?idsite={_q(self.site)}&rec=1&apiv=1&queuedtracking=0&dp={self.dp}"
        self._quoted = _Quoted()

    def __call__(self, hit: Hit, flags: int) -> str:
        q = self._quoted
        url = self.url(hit)
        parts = [self._head, "&cdt=", _q(self.cdt(hit.time)), "&ua=", q[hit.user_agent], "&url=", _q(url)]
        add = parts.append
        if hit.ip:
            add("&cip=")
            add(q[hit.ip])
        referrer = hit.referrer[:MAX_URL]
        if referrer:
            add("&urlref=")
            add(q[referrer])
        if hit.userid:
            add("&uid=")
            add(_q(hit.userid))
        add("&cvar=")
        add(_q(self.page_cvars(hit) or json.dumps({"1": ["HTTP-code", str(hit.status)]})))
        visit = self.visit_cvars(hit, flags)
        if visit is not None:
            add("&_cvar=")
            add(_q(visit))
        if self._bots:
            add("&bots=1")
        if flags & DOWNLOAD:
            add("&download=")
            add(_q(url))
        if flags & (ERROR | REDIRECT):
            add("&action_name=")
            add(_q(self.title(hit.status, url, referrer)))
        if hit.generation_time_ms:
            add(f"&pf_srv={int(hit.generation_time_ms)}")
        if hit.size > 0:
            add(f"&bw_bytes={hit.size}")
        return _json("".join(parts))

    def replay(self, hit: Hit, params: dict[str, str]) -> str:
        values = replay_params(hit, params, self.cdt(hit.time), self.site, dp=self.dp)
        return _json("?" + "&".join(f"{_q(k)}={_q(v)}" for k, v in values.items()))


__all__ = ["SITE_PLACEHOLDER", "MatomoEncoder"]
