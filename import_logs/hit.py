"""From a line of text to a :class:`Hit`: one match, a few conversions, no copies.

``LineParser.parse`` returns a ``Hit`` or, for a line it cannot use, the reason as a string (one of
:data:`INVALID_REASONS`), so that the caller counts it and goes on.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from import_logs.config import TrackingOptions
from import_logs.formats import FormatDef, compile_regex
from import_logs.timeparse import DateParser

NO_MATCH = "no_match"
BAD_DATE = "bad_date"
BAD_STATUS = "bad_status"
EMPTY = "empty_line"

INVALID_REASONS = {
    NO_MATCH: "lines that match no part of the log format",
    BAD_DATE: "lines with a date that cannot be read",
    BAD_STATUS: "lines with a status that is not a number",
    EMPTY: "empty lines",
}


class Hit(NamedTuple):
    """One request of the log, normalised: aware UTC time, ``int`` status, ``None`` for ``-``."""

    time: datetime
    ip: str | None
    host: str | None
    method: str | None
    path: str
    query: str
    status: int
    size: int
    referrer: str
    user_agent: str
    userid: str | None
    generation_time_ms: int | None


def _index(groupindex: dict[str, int], name: str) -> int:
    """Position of a group in ``Match.groups()``, or -1 when the format does not capture it."""
    return groupindex.get(name, 0) - 1


class LineParser:
    """Parses the lines of one format; built once per worker and format."""

    def __init__(self, fmt: FormatDef, tracking: TrackingOptions) -> None:
        pattern = compile_regex(fmt.regex)
        gi = dict(pattern.groupindex)
        self.format = fmt
        self._match = pattern.match
        self._date = DateParser(fmt.date)
        self._i_date = _index(gi, "date")
        self._i_tz = _index(gi, "timezone")
        self._i_ip = _index(gi, "ip")
        self._i_host = _index(gi, "host")
        self._i_method = _index(gi, "method")
        self._i_path = _index(gi, "path")
        self._i_query = _index(gi, "query_string")
        self._i_status = _index(gi, "status")
        self._i_length = _index(gi, "length")
        self._i_referrer = _index(gi, "referrer")
        self._i_ua = _index(gi, "user_agent")
        self._i_userid = _index(gi, "userid")
        self._i_gt = [
            (_index(gi, name), factor)
            for name, factor in (
                ("generation_time_milli", 1.0),
                ("generation_time_micro", 0.001),
                ("generation_time_secs", 1000.0),
            )
            if name in gi
        ]
        self._delimiter = tracking.query_string_delimiter
        self._log_hostname = tracking.log_hostname

    def parse(self, line: str) -> Hit | str:
        m = self._match(line)
        if m is None:
            return NO_MATCH if line.strip() else EMPTY
        g = m.groups()

        if self._i_tz >= 0:
            time = self._date.with_zone(g[self._i_date], g[self._i_tz])
        else:
            time = self._date(g[self._i_date])
        if time is None:
            return BAD_DATE

        status_text = g[self._i_status] if self._i_status >= 0 else None
        if status_text is None:
            status = 200
        else:
            try:
                status = int(status_text.strip('"'))
            except ValueError:
                return BAD_STATUS

        path = g[self._i_path] or ""
        if self._i_query >= 0:
            query = g[self._i_query] or ""
            if query == "-":
                query = ""
        else:
            path, _, query = path.partition(self._delimiter)

        length = g[self._i_length] if self._i_length >= 0 else None
        size = int(length) if length and length.isdigit() else 0

        referrer = g[self._i_referrer] if self._i_referrer >= 0 else None
        if not referrer or referrer == "-":
            referrer = ""

        ua = g[self._i_ua] if self._i_ua >= 0 else None

        ip = g[self._i_ip] if self._i_ip >= 0 else None
        if ip == "-" or ip == "":
            ip = None

        host: str | None
        if self._log_hostname:
            host = self._log_hostname
        elif self._i_host >= 0:
            host = (g[self._i_host] or "").lower().strip(".").strip('"') or None
        else:
            host = None

        userid = g[self._i_userid] if self._i_userid >= 0 else None
        if userid == "-" or userid == "":
            userid = None

        method = g[self._i_method] if self._i_method >= 0 else None

        gt_ms = None
        for index, factor in self._i_gt:
            raw = g[index]
            if raw and raw != "-":
                try:
                    gt_ms = int(float(raw) * factor)
                except ValueError:
                    continue
                break

        return Hit(time, ip, host, method, path, query, status, size, referrer, ua or "", userid, gt_ms)
