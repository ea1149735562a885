"""From a line of text to a :class:`Hit`: one match, a few conversions, no copies.

``LineParser.parse`` returns a ``Hit`` or, for a line it cannot use, the reason as a string (one of
:data:`INVALID_REASONS`), so that the caller counts it and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _normal_host(raw: str) -> str | None:
    return raw.lower().strip(".").strip('"') or None


class LineParser:
    """Parses the lines of one format; built once per worker and format.

    ``parse`` is generated for the format from its groups, so that a line costs one regex match, one tuple of
    groups and straight-line code: no attribute lookups, no tests for groups the format does not have. The
    source is kept in ``self.source`` for reading.
    """

    def __init__(self, fmt: FormatDef, tracking: TrackingOptions) -> None:
        self.format = fmt
        pattern = compile_regex(fmt.regex)
        self.source = _parser_source(dict(pattern.groupindex), tracking)
        hosts: dict[str, str | None] = {}
        date = DateParser(fmt.date)
        namespace = {
            "match": pattern.match,
            "date": date,
            "date_with_zone": date.with_zone,
            "new": tuple.__new__,
            "Hit": Hit,
            "NO_MATCH": NO_MATCH,
            "EMPTY": EMPTY,
            "BAD_DATE": BAD_DATE,
            "BAD_STATUS": BAD_STATUS,
            "DELIMITER": tracking.query_string_delimiter,
            "LOG_HOSTNAME": tracking.log_hostname,
            "hosts": hosts,
            "normal_host": _normal_host,
        }
        exec(compile(self.source, f"<parser {fmt.name}>", "exec"), namespace)
        self.parse: Callable[[str], Hit | str] = namespace["parse"]  # type: ignore[assignment]


def _parser_source(gi: dict[str, int], tracking: TrackingOptions) -> str:
    """The body of ``parse`` for a format with these named groups (``Match.groups()`` indexes)."""

    def at(name: str) -> str | None:
        return f"g[{gi[name] - 1}]" if name in gi else None

    lines = [
        "def parse(line):",
        "    m = match(line)",
        "    if m is None:",
        "        return NO_MATCH if line.strip() else EMPTY",
        "    g = m.groups()",
    ]
    add = lines.append

    def dash_means_empty(var: str, group: str, empty: str) -> None:
        """``var = <group>``, where a missing group, an empty value and ``-`` all mean ``empty``."""
        if group in gi:
            add(f"    {var} = {at(group)}")
            add(f"    if not {var} or {var} == '-':")
            add(f"        {var} = {empty}")
        else:
            add(f"    {var} = {empty}")

    if "timezone" in gi:
        add(f"    time = date_with_zone({at('date')}, {at('timezone')})")
    else:
        add(f"    time = date({at('date')})")
    add("    if time is None:")
    add("        return BAD_DATE")
    if "status" in gi:
        add(f"    status = {at('status')}")
        add("    if status is None:")
        add("        status = 200")
        add("    else:")
        add("        try:")
        add("            status = int(status.strip('\"'))")
        add("        except ValueError:")
        add("            return BAD_STATUS")
    else:
        add("    status = 200")
    add(f"    path = {at('path')} or ''")
    if "query_string" in gi:
        add(f"    query = {at('query_string')} or ''")
        add("    if query == '-':")
        add("        query = ''")
    else:
        add("    path, _, query = path.partition(DELIMITER)")
    if "length" in gi:
        add(f"    size = {at('length')}")
        add("    size = int(size) if size and size.isdigit() else 0")
    else:
        add("    size = 0")
    dash_means_empty("referrer", "referrer", "''")
    add(f"    ua = {at('user_agent') or 'None'} or ''")
    dash_means_empty("ip", "ip", "None")
    if tracking.log_hostname:
        add("    host = LOG_HOSTNAME")
    elif "host" in gi:
        add(f"    raw = {at('host')}")
        add("    if raw:")
        add("        host = hosts.get(raw, hosts)")
        add("        if host is hosts:")
        add("            if len(hosts) > 10000:")
        add("                hosts.clear()")
        add("            host = hosts[raw] = normal_host(raw)")
        add("    else:")
        add("        host = None")
    else:
        add("    host = None")
    dash_means_empty("userid", "userid", "None")
    add(f"    method = {at('method') or 'None'}")
    add("    gt = None")
    for name, factor in (
        ("generation_time_milli", 1.0),
        ("generation_time_micro", 0.001),
        ("generation_time_secs", 1000.0),
    ):
        if name in gi:
            add(f"    raw = {at(name)}")
            add("    if gt is None and raw and raw != '-':")
            add("        try:")
            add(f"            gt = int(float(raw) * {factor!r})")
            add("        except ValueError:")
            add("            pass")
    add("    return new(Hit, (time, ip, host, method, path, query, status, size, referrer, ua, userid, gt))")
    return "\n".join(lines) + "\n"
