"""Matomo tracking requests (reference §6, Matomo's column), as ``"?idsite=1&rec=1&..."`` strings.

Runs in the workers. The bulk API takes query strings as well as objects; a query string is what a tracker
request looks like in Matomo's own logs, and the form Matomo documents for bulk tracking (seed 002).
Fixed against the reference: no ``cip=-``, no empty ``uid``, an empty ``urlref`` is left out.

With ``spec.bot_mode`` (Matomo 5.7+ with BotTracking), an AI assistant's request goes in Matomo's bot mode
(``recMode=1``: no visit) with what its AI Assistants reports show: ``http_status``, ``bw_bytes``, ``pf_srv`` and
``source`` (the parameters of Matomo's tracking API documentation, "Tracking Bots").
"""

from __future__ import annotations

import json
from datetime import datetime

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
    url_quote,
    visit_cvars,
)
from import_logs.backends.replay import replay_params
from import_logs.filters import AI_ASSISTANT, DOWNLOAD, ERROR, REDIRECT
from import_logs.parsing.hit import Hit
from import_logs.parsing.timeparse import format_cdt


class MatomoEncoder:
    """``encoder(hit, flags)`` → the JSON string literal of one ``?...`` tracking request."""

    def __init__(self, spec: EncodeSpec) -> None:
        self._t = t = spec.tracking
        self._bots = spec.enable_bots
        self.site = site_of(spec)
        self.dp = "0" if t.enable_reverse_dns else "1"
        extra = "".join(f"&{url_quote(k)}={url_quote(v)}" for k, v in t.extra_params)
        self._head = f"?idsite={url_quote(self.site)}&rec=1&apiv=1&queuedtracking=0&dp={self.dp}{extra}"
        #: Matomo's bot mode, for AI assistants' requests (the filter flags them only with ``spec.bot_mode``).
        self._bot_head = f"?idsite={url_quote(self.site)}&rec=1&recMode=1&apiv=1&queuedtracking=0{extra}"
        self._dimensions = dimensions(spec)
        #: Hits that may take the plain path: no option adds a parameter to every hit.
        self._plain = not (t.track_http_method or self._bots or self._dimensions is not None)
        self._quoted: Memo[str] = Memo(url_quote)
        #: Pages repeat: each URL quoted once (bounded caches), as the other values that repeat, with their keys.
        self._urls = UrlMemo(spec, url_quote)
        self._cdt: Memo[datetime] = Memo(lambda time: url_quote(format_cdt(time)))
        self._cip: Memo[str | None] = Memo(lambda ip: f"&cip={url_quote(ip)}" if ip else "")
        self._urlref: Memo[str] = Memo(lambda ref: f"&urlref={url_quote(ref[:MAX_URL])}" if ref else "")
        #: The cvar of a hit with no other page variable: the status alone, quoted once per status.
        self._status_cvar: Memo[int] = Memo(lambda status: url_quote(json.dumps({"1": ["HTTP-code", str(status)]})))

    def __call__(self, hit: Hit, flags: int) -> str:
        url, url_q = self._urls[hit.host, hit.path, hit.query]
        if flags or not self._plain or hit.userid or hit.page_cvars or hit.visit_cvars or hit.generation_time_ms:
            return self._full(hit, flags, url, url_q)
        size = hit.size
        bw = f"&bw_bytes={size}" if size > 0 else ""
        # Every value is URL-quoted: only letters, digits and %-_.~&= remain, which JSON takes as they are.
        return (
            f'"{self._head}&cdt={self._cdt[hit.time]}&ua={self._quoted[hit.user_agent]}&url={url_q}'
            f'{self._cip[hit.ip]}{self._urlref[hit.referrer]}&cvar={self._status_cvar[hit.status]}{bw}"'
        )

    def _full(self, hit: Hit, flags: int, url: str, url_q: str) -> str:
        if flags & AI_ASSISTANT:
            return self._bot(hit, flags, url_q)
        q = self._quoted
        t = self._t
        parts = [self._head, "&cdt=", self._cdt[hit.time], "&ua=", q[hit.user_agent], "&url=", url_q]
        add = parts.append
        add(self._cip[hit.ip])
        referrer = hit.referrer[:MAX_URL]
        add(self._urlref[hit.referrer])
        if hit.userid:
            add("&uid=")
            add(url_quote(hit.userid))
        add("&cvar=")
        page = page_cvars(hit, t.track_http_method) if hit.page_cvars or t.track_http_method else None
        add(self._status_cvar[hit.status] if page is None else url_quote(page))
        visit = visit_cvars(hit, flags, self._bots) if hit.visit_cvars or self._bots else None
        if visit is not None:
            add("&_cvar=")
            add(url_quote(visit))
        if self._bots:
            add("&bots=1")
        if flags & DOWNLOAD:
            add("&download=")
            add(url_q)
        if flags & (ERROR | REDIRECT):
            add("&action_name=")
            add(url_quote(title(hit.status, url, referrer, t.title_category_delimiter)))
        if hit.generation_time_ms:
            add(f"&pf_srv={int(hit.generation_time_ms)}")
        if hit.size > 0:
            add(f"&bw_bytes={hit.size}")
        if self._dimensions is not None:
            for key, value in self._dimensions(hit, flags):
                add(f"&{key}=")
                add(url_quote(value))
        return '"' + "".join(parts) + '"'

    def _bot(self, hit: Hit, flags: int, url_q: str) -> str:
        """An AI assistant's request in Matomo's bot mode: no visit, no custom variables, no visitor IP."""
        parts = [self._bot_head, "&cdt=", self._cdt[hit.time], "&ua=", self._quoted[hit.user_agent], "&url=", url_q]
        if flags & DOWNLOAD:
            parts += ("&download=", url_q)
        parts.append(f"&http_status={hit.status}")
        if hit.size > 0:
            parts.append(f"&bw_bytes={hit.size}")
        if hit.generation_time_ms:
            parts.append(f"&pf_srv={int(hit.generation_time_ms)}")
        parts.append("&source=import-logs")
        return '"' + "".join(parts) + '"'

    def replay(self, hit: Hit, params: dict[str, str]) -> str:
        values = replay_params(hit, params, format_cdt(hit.time), self.site, dp=self.dp)
        return json_string("?" + "&".join(f"{url_quote(k)}={url_quote(v)}" for k, v in values.items()))
