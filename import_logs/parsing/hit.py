"""From a line of text to a :class:`Hit`: one match, a few conversions, no copies.

``LineParser.parse`` returns a ``Hit`` or, for a line it cannot use, the reason as a string (one of
:class:`~import_logs.reasons.Invalid`), so that the caller counts it and goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import unquote

from import_logs.addresses import ClientAddress, address
from import_logs.config import TrackingOptions
from import_logs.errors import FormatError
from import_logs.parsing.formats import FormatDef, compile_regex, dig, json_object, split_plan
from import_logs.parsing.split_path import fast_lines, fast_namespace
from import_logs.parsing.timeparse import DateParser, resolve_zone
from import_logs.reasons import Invalid, Skip

# The names the generated parsers return (see :func:`parser_source`).
NO_MATCH = Invalid.NO_MATCH
BAD_DATE = Invalid.BAD_DATE
BAD_STATUS = Invalid.BAD_STATUS
EMPTY = Invalid.EMPTY
#: Not invalid: a header line of a W3C log (``#Fields:`` and the like), counted as skipped.
HEADER = Skip.HEADER


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
    #: (custom variable name, value) from --regex-group-to-page-cvar / --regex-group-to-visit-cvar.
    page_cvars: tuple[tuple[str, str], ...] = ()
    visit_cvars: tuple[tuple[str, str], ...] = ()
    #: (custom dimension id, value) from --regex-group-to-page-dimension / --regex-group-to-visit-dimension.
    dimensions: tuple[tuple[str, str], ...] = ()


def _url_decode_twice(text: str) -> str:
    return unquote(unquote(text))


def strip_port(text: str) -> str:
    """``198.51.100.7:2817`` → ``198.51.100.7``, ``[2001:db8::1]:443`` → ``2001:db8::1``; else as it was."""
    found = address(text)
    return text if found is None else str(found)


def absolute_url(text: str) -> tuple[str | None, str]:
    """``https://www.example.com:443/a?b=1`` → ``("www.example.com", "/a?b=1")``: the host (the default port
    dropped) and the path with its query. A path that is not an absolute URL: ``(None, path)``."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None, text
    host, slash, tail = rest.partition("/")
    host = host.rpartition("@")[2]
    if host.endswith((":80", ":443")):
        host = host.rpartition(":")[0]
    return host or None, slash + tail if slash else "/"


#: Transforms written where their group is read: (group, transform).
GROUP_TRANSFORMS = (("ip", "strip_port"), ("path", "absolute_url"))

#: Named value transforms a format definition may ask for (on the user agent or the referrer).
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "url_decode": unquote,
    "url_decode_twice": _url_decode_twice,
    "plus_to_space": lambda text: text.replace("+", " "),
    "csv_unquote": lambda text: text.replace('""', '"'),
}


#: A host name or address, with maybe a port: what a host field may hold. Anything else (``@``, ``/``, ``#``,
#: blanks...) would rewrite the tracked URL or drive a site lookup and creation, so it counts as no host.
_HOST = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?"
)


def _normal_host(raw: str) -> str | None:
    host = raw.lower().strip(".").strip('"')
    return host if host and _HOST.fullmatch(host) else None


class LineParser:
    """Parses the lines of one format; built once per worker and format.

    ``parse`` is generated for the format from its groups, so that a line costs one regex match, one tuple of
    groups and straight-line code: no attribute lookups, no tests for groups the format does not have. The
    source is kept in ``self.source`` for reading.
    """

    def __init__(
        self,
        fmt: FormatDef,
        tracking: TrackingOptions,
        *,
        fast_path: bool = True,
        timezone: str | None = None,
        path_skips: Mapping[str, Skip | str] | None = None,
    ) -> None:
        self.format = fmt
        if fmt.kind == "json":
            groups = {name: i + 1 for i, (name, _) in enumerate(fmt.keys)}
            match = None
            self.source = _parser_source(
                groups, tracking, json_keys=True, transforms=fmt.transforms, prefilter=path_skips is not None
            )
        else:
            pattern = compile_regex(fmt.regex)
            match = pattern.match
            groups = dict(pattern.groupindex)
            plan = split_plan(fmt) if fast_path and pattern.groups == len(groups) else None
            self.source = _parser_source(
                groups,
                tracking,
                fast=(fast_lines(plan, groups) if plan else None),
                fast_parts=len(plan) if plan else 0,
                comments=fmt.comments,
                header=fmt.header,
                transforms=fmt.transforms,
                prefilter=path_skips is not None,
            )
        hosts: dict[str, str | None] = {}
        date = DateParser(fmt.date, resolve_zone(timezone))
        namespace = {
            "match": match,
            "json_object": json_object,
            "extract": _extractor(fmt),
            "date": date,
            "known_date": date.cache.get,
            "date_with_zone": date.with_zone,
            "new": tuple.__new__,
            "Hit": Hit,
            "NO_MATCH": NO_MATCH,
            "EMPTY": EMPTY,
            "BAD_DATE": BAD_DATE,
            "BAD_STATUS": BAD_STATUS,
            "HEADER": HEADER,
            "timedelta": timedelta,
            **TRANSFORMS,
            "DELIMITER": tracking.query_string_delimiter,
            "LOG_HOSTNAME": tracking.log_hostname,
            "hosts": hosts,
            "normal_host": _normal_host,
            "client_ip": ClientAddress(tracking.trusted_proxies),
            "strip_port": strip_port,
            "absolute_url": absolute_url,
            "path_skips": path_skips,
            **fast_namespace(),
        }
        exec(compile(self.source, f"<parser {fmt.name}>", "exec"), namespace)
        self.parse: Callable[[str], Hit | Invalid | Skip] = namespace["parse"]  # type: ignore[assignment]


def reads_any(fmt: FormatDef, lines: list[str], tracking: TrackingOptions, *, timezone: str | None = None) -> bool:
    """Does the format read at least one of these lines into a hit (W3C headers are not lines)?"""
    parse = LineParser(fmt, tracking, timezone=timezone).parse
    return any(isinstance(parse(line), Hit) for line in lines)


def _extractor(fmt: FormatDef) -> Callable[[dict[str, object]], tuple[str | None, ...]]:
    """For a JSON format: an object → its groups as text (numbers too), in the order of ``fmt.keys``."""
    alternatives = [paths for _, paths in fmt.keys]

    def extract(obj: dict[str, object]) -> tuple[str | None, ...]:
        values = []
        for paths in alternatives:
            value = None
            for path in paths:
                value = dig(obj, path)
                if value is not None:
                    break
            values.append(value if value is None or isinstance(value, str) else str(value))
        return tuple(values)

    return extract


def _parser_source(
    gi: dict[str, int],
    tracking: TrackingOptions,
    fast: list[str] | None = None,
    fast_parts: int = 0,
    json_keys: bool = False,
    comments: bool = False,
    header: str = "",
    transforms: tuple[tuple[str, str], ...] = (),
    prefilter: bool = False,
) -> str:
    """The source of ``parse`` for a format with these named groups (``Match.groups()`` indexes).

    The groups land in ``g_<name>`` variables: with ``fast`` (the code of :func:`_fast_lines`), a line without
    a backslash is first read by splitting it at its double quotes, and the regex reads the others; with
    ``json_keys``, the line is a JSON object whose groups ``extract`` takes out.
    """

    everything = gi
    gi = {name: index for name, index in gi.items() if name not in tracking.ignore_groups}

    def at(name: str) -> str | None:
        return f"g_{name}" if name in gi else None

    unpack = [f"        g_{name} = g[{index - 1}]" for name, index in everything.items()]
    lines = ["def parse(line):"]
    if comments:
        lines += ["    if line[:1] == '#':", "        return HEADER"]
    if header:
        lines += [f"    if line.startswith({header!r}):", "        return HEADER"]
    if json_keys:
        lines += [
            "    obj = json_object(line)",
            "    if obj is None:",
            "        return NO_MATCH if line.strip() else EMPTY",
            "    g = extract(obj)",
            *(text[4:] for text in unpack),
        ]
    else:
        lines.append("    fast = False")
        if fast:
            lines += [
                "    if '\\\\' not in line:",
                "        parts = line.split('\"')",
                f"        if len(parts) >= {fast_parts}:",
                "            while True:",
                *(f"                {text}" for text in fast),
            ]
        lines += [
            "    if not fast:",
            "        m = match(line)",
            "        if m is None:",
            "            return NO_MATCH if line.strip() else EMPTY",
            "        g = m.groups()",
            *unpack,
        ]
        if fast:  # the fast path looked the date up in the parser's cache (``time``); the regex did not
            lines.append("        time = None")
    add = lines.append

    def dash_means_empty(name: str, empty: str) -> None:
        """``name = <group name>``, where a missing group, an empty value and ``-`` all mean ``empty``."""
        if name in gi:
            add(f"    {name} = {at(name)}")
            add(f"    if not {name} or {name} == '-':")
            add(f"        {name} = {empty}")
        else:
            add(f"    {name} = {empty}")

    add(f"    when = {at('date')}")
    if "time" in gi:
        add(f"    if when and {at('time')}:")
        add(f"        when = when + ' ' + {at('time')}")
    if "timezone" in gi:
        add(f"    time = date_with_zone(when, {at('timezone')}) if when else None")
    else:
        if not fast:
            add("    time = known_date(when) if when else None")
        add("    if time is None:")
        add("        time = date(when) if when else None")
    add("    if time is None:")
    add("        return BAD_DATE")
    if tracking.add_to_date:
        add(f"    time = time + timedelta(seconds={int(tracking.add_to_date)})")
    if "status" in gi:
        add(f"    status = {at('status')}")
        add("    if not status:  # an empty status (Incapsula) counts as 200")
        add("        status = 200")
        add("    else:")
        add("        try:")
        add("            status = int(status)")
        add("        except ValueError:")
        add("            return BAD_STATUS")
    else:
        add("    status = 200")
    add(f"    path = {at('path')} or ''")
    url_host = ("path", "absolute_url") in transforms
    if url_host:  # https://host:443/path?query: the host is kept for a format without a host field
        add("    url_host, path = absolute_url(path)")
    if tracking.lowercase_path:
        add("    path = path.lower()")
    if "query_string" in gi:
        add(f"    query = {at('query_string')} or ''")
        add("    if query == '-':")
        add("        query = ''")
        add("    if not query:")
        add("        path, _, query = path.partition(DELIMITER)")
    else:
        add("    path, _, query = path.partition(DELIMITER)")
    if prefilter:  # a static resource (or an excluded path) answered with a success: the rest is not read
        add("    skip = path_skips[path]")
        add("    if skip and (status < 300 or status == 304):")
        add("        return skip")
    if "length" in gi:
        add(f"    size = {at('length')}")
        add("    size = int(size) if size and size.isdigit() else 0")
    else:
        add("    size = 0")
    dash_means_empty("referrer", "''")
    add(f"    ua = {at('user_agent') or 'None'} or ''")
    if comments:  # W3C values may stand in quotes
        add("    ua = ua.strip('\"')")
        add("    referrer = referrer.strip('\"')")
    for group, transform in transforms:
        if (group, transform) in GROUP_TRANSFORMS:
            continue  # written where the group is read
        var = {"user_agent": "ua", "referrer": "referrer"}.get(group)
        if var is None or transform not in TRANSFORMS:
            known = ", ".join(f"{t} on {g}" for g, t in GROUP_TRANSFORMS)
            raise FormatError(
                f"transform {transform!r} of {group!r}: known are {', '.join(TRANSFORMS)} on user_agent and "
                f"referrer, and {known}."
            )
        add(f"    {var} = {transform}({var})")
    dash_means_empty("ip", "None")
    client = tracking.client_ip_group
    if client and client in gi:  # the client and its proxies, read in front of the connecting address
        add(f"    raw = {at(client)}")
        add("    if raw and raw != '-':")
        add("        ip = raw + ',' + ip if ip else raw")
    add("    if ip and ',' in ip:  # several addresses: the visitor's, past the trusted proxies")
    add("        ip = client_ip(ip)")
    if ("ip", "strip_port") in transforms:
        add("    if ip:")
        add("        ip = strip_port(ip)")
    if tracking.log_hostname:
        add("    host = LOG_HOSTNAME")
    elif "host" in gi or url_host:
        source = " or ".join(name for name in (at("host"), "url_host" if url_host else None) if name)
        add(f"    raw = {source}")
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
    dash_means_empty("userid", "None")
    add(f"    method = {at('method') or 'None'}")
    add("    gt = None")
    timings = [
        (name, factor)
        for name, factor in (
            ("generation_time_milli", 1.0),
            ("generation_time_micro", 0.001),
            ("generation_time_secs", 1000.0),
            ("generation_time_nano", 1e-6),
        )
        if name in gi
    ]
    for name, factor in timings:
        add(f"    raw = {at(name)}")
        add("    if gt is None and raw and raw != '-':")
        add("        try:")
        add(f"            gt = int(float(raw) * {factor!r})")
        add("        except ValueError:")
        add("            pass")
    if timings:
        add("    if gt is not None and gt <= 0:")
        add("        gt = None")
    for var, pairs in (
        ("page_cvars", tracking.page_cvars),
        ("visit_cvars", tracking.visit_cvars),
        ("dimensions", tracking.page_dimensions + tracking.visit_dimensions),
    ):
        present = [(group, name) for group, name in pairs if group in everything]
        if not present:
            add(f"    {var} = ()")
            continue
        add(f"    {var} = []")
        for group, name in present:
            add(f"    raw = g_{group}")
            add("    if raw and raw != '-':")
            add(f"        {var}.append(({name!r}, raw))")
        add(f"    {var} = tuple({var})")
    add(
        "    return new(Hit, (time, ip, host, method, path, query, status, size, referrer, ua, userid, gt, "
        "page_cvars, visit_cvars, dimensions))"
    )
    return "\n".join(lines) + "\n"
