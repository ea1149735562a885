"""Pirsch hits (seed 003): ``{"url", "ip", "user_agent", "referrer", "time", ...}`` objects for
``POST /api/v1/hit/batch``, with ``time`` in RFC 3339 so that an import lands on the day of the log.

Runs in the workers. Pirsch counts page views; it has no site id (a client belongs to one domain), no custom
variables and no status codes, so only what it reads is sent.
"""

from __future__ import annotations

from datetime import datetime, timezone

from import_logs.backends.base import EncodeSpec
from import_logs.backends.encoding import MAX_URL, Memo, UrlMemo, json_string
from import_logs.errors import ConfigError
from import_logs.parsing.hit import Hit

#: Pirsch requires a user agent; logs without one (the common format) get this.
NO_USER_AGENT = "import-logs (no user agent in the log)"


def rfc3339(time: datetime) -> str:
    """``2012-02-10T21:42:07Z``: whole seconds, as for the other trackers (Pirsch documents RFC 3339 for a hit's
    ``time`` and no fraction there)."""
    text = time.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat()
    return text + "Z"


class PirschEncoder:
    def __init__(self, spec: EncodeSpec) -> None:
        self._urls = UrlMemo(spec, json_string)
        self._esc: Memo[str] = Memo(json_string)
        self._times: Memo[datetime] = Memo(rfc3339)

    def __call__(self, hit: Hit, flags: int) -> str:
        esc = self._esc
        parts = [
            '{"url":',
            self._urls[hit.host, hit.path, hit.query][1],
            ',"ip":',
            esc[hit.ip or ""],
            ',"user_agent":',
            esc[hit.user_agent or NO_USER_AGENT],
        ]
        referrer = hit.referrer[:MAX_URL]
        if referrer:
            parts += [',"referrer":', esc[referrer]]
        parts += [',"time":"', self._times[hit.time], '"}']
        return "".join(parts)

    def replay(self, hit: Hit, params: dict[str, str]) -> str:
        raise ConfigError("--replay-tracking: Pirsch has no tracking requests of this kind to replay.")
