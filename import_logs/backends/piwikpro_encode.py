"""Piwik PRO tracking requests, built as Piwik PRO's importer builds them (reference §6), minus its bugs.

Runs in the workers. Every value is a string; the request is JSON-encoded here, once.
Fixed against the reference: redirects get their ``action_name`` too, ``cip=-`` and an empty ``uid`` are
never sent, ``ts_n``/``ts_v`` name this client.
"""

from __future__ import annotations

from datetime import datetime

import ujson

from import_logs.backends.base import EncodeSpec
from import_logs.backends.encoding import (
    MAX_URL,
    Memo,
    UrlMemo,
    dimensions,
    json_string,
    page_cvars,
    site_of,
    title,
    visit_cvars,
)
from import_logs.backends.replay import replay_params
from import_logs.filters import DOWNLOAD, ERROR, REDIRECT
from import_logs.parsing.hit import Hit
from import_logs.parsing.timeparse import format_cdt


class PiwikProEncoder:
    """``encoder(hit, flags)`` → the JSON text of one tracking request, built in one pass.

    The keys and fixed values are written once into a prefix; each string value is JSON-escaped once, and
    values that repeat across lines (user agent, referrer, IP, page, status, the UTC time of each second) come
    from caches, with their keys. A plain page view (no flag, no user id, no custom variable or dimension, no
    generation time: most hits) is one f-string of cached pieces; the rest adds its parameters in order.
    """

    def __init__(self, spec: EncodeSpec) -> None:
        t = self._t = spec.tracking
        self._bots = spec.enable_bots
        self.site = site_of(spec)
        self.dp = "0" if t.enable_reverse_dns else "1"
        extra = "".join(f",{json_string(k)}:{json_string(v)}" for k, v in t.extra_params)
        self._prefix = (
            f'{{"rec":"1","apiv":"1","idsite":{json_string(self.site)},"queuedtracking":"0","dp":"{self.dp}"{extra}'
        )
        self._suffix = f',"ts_n":{json_string(spec.client_name)},"ts_v":{json_string(spec.client_version)}}}'
        self._dimensions = dimensions(spec)
        #: Hits that may take the plain path: no option adds a parameter to every hit.
        self._plain = not (t.track_http_method or self._bots or self._dimensions is not None)
        self._esc: Memo[str] = Memo(json_string)
        self._cdt: Memo[datetime] = Memo(format_cdt)
        self._urls = UrlMemo(spec, json_string)
        self._cip: Memo[str | None] = Memo(lambda ip: f',"cip":{json_string(ip)}' if ip else "")
        self._urlref: Memo[str] = Memo(lambda ref: f',"urlref":{json_string(ref[:MAX_URL])}' if ref else "")
        self._status_cvar: Memo[int] = Memo(lambda status: f',"cvar":"{{\\"1\\": [\\"HTTP-code\\", \\"{status}\\"]}}"')

    def __call__(self, hit: Hit, flags: int) -> str:
        url, url_json = self._urls[hit.host, hit.path, hit.query]
        if flags or not self._plain or hit.userid or hit.page_cvars or hit.visit_cvars or hit.generation_time_ms:
            return self._full(hit, flags, url, url_json)
        size = hit.size
        bw = f',"bw_bytes":"{size}"' if size > 0 else ""
        return (
            f'{self._prefix},"cdt":"{self._cdt[hit.time]}","ua":{self._esc[hit.user_agent]},"url":{url_json}'
            f"{self._cip[hit.ip]}{self._urlref[hit.referrer]}{self._status_cvar[hit.status]}{bw}{self._suffix}"
        )

    def _full(self, hit: Hit, flags: int, url: str, url_json: str) -> str:
        esc = self._esc
        t = self._t
        parts = [self._prefix, ',"cdt":"', self._cdt[hit.time], '","ua":', esc[hit.user_agent], ',"url":', url_json]
        add = parts.append
        add(self._cip[hit.ip])
        referrer = hit.referrer[:MAX_URL]
        add(self._urlref[hit.referrer])
        if hit.userid:
            add(',"uid":')
            add(json_string(hit.userid))
        page = page_cvars(hit, t.track_http_method) if hit.page_cvars or t.track_http_method else None
        if page is None:
            add(self._status_cvar[hit.status])
        else:
            add(',"cvar":')
            add(json_string(page))
        visit = visit_cvars(hit, flags, self._bots) if hit.visit_cvars or self._bots else None
        if visit is not None:
            add(',"_cvar":')
            add(json_string(visit))
        if self._bots:
            add(',"bots":"1"')
        if flags & DOWNLOAD:
            add(',"download":')
            add(url_json)
        if flags & (ERROR | REDIRECT):
            add(',"action_name":')
            add(json_string(title(hit.status, url, referrer, t.title_category_delimiter)))
        if hit.generation_time_ms:
            add(f',"gt_ms":"{hit.generation_time_ms}"')
        if hit.size > 0:
            add(f',"bw_bytes":"{hit.size}"')
        if self._dimensions is not None:
            for key, value in self._dimensions(hit, flags):
                add(f',"{key}":')
                add(json_string(value))
        add(self._suffix)
        return "".join(parts)

    def replay(self, hit: Hit, params: dict[str, str]) -> str:
        """A logged tracking request, as an object of its parameters (the site first)."""
        return str(
            ujson.dumps(
                replay_params(hit, params, self._cdt[hit.time], self.site, dp=self.dp),
                ensure_ascii=False,
                escape_forward_slashes=False,
            )
        )
