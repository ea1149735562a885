"""From a line of text to a :class:`Hit`: one match, a few conversions, no copies.

``LineParser.parse`` returns a ``Hit`` or, for a line it cannot use, the reason as a string (one of
:data:`INVALID_REASONS`), so that the caller counts it and goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import unquote

from import_logs.config import TrackingOptions
from import_logs.errors import FormatError
from import_logs.formats import FIELD_PATTERNS, FormatDef, Piece, compile_regex, dig, json_object, split_plan
from import_logs.timeparse import DateParser, resolve_zone

NO_MATCH = "no_match"
#: Not invalid: a header line of a W3C log (``#Fields:`` and the like), counted as skipped.
HEADER = "header"
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
    #: (custom variable name, value) from --regex-group-to-page-cvar / --regex-group-to-visit-cvar.
    page_cvars: tuple[tuple[str, str], ...] = ()
    visit_cvars: tuple[tuple[str, str], ...] = ()


def _url_decode_twice(text: str) -> str:
    return unquote(unquote(text))


#: Named value transforms a format definition may ask for (on the user agent or the referrer).
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "url_decode": unquote,
    "url_decode_twice": _url_decode_twice,
    "plus_to_space": lambda text: text.replace("+", " "),
}


def _normal_host(raw: str) -> str | None:
    return raw.lower().strip(".").strip('"') or None


class LineParser:
    """Parses the lines of one format; built once per worker and format.

    ``parse`` is generated for the format from its groups, so that a line costs one regex match, one tuple of
    groups and straight-line code: no attribute lookups, no tests for groups the format does not have. The
    source is kept in ``self.source`` for reading.
    """

    def __init__(
        self, fmt: FormatDef, tracking: TrackingOptions, *, fast_path: bool = True, timezone: str | None = None
    ) -> None:
        self.format = fmt
        if fmt.kind == "json":
            groups = {name: i + 1 for i, (name, _) in enumerate(fmt.keys)}
            match = None
            self.source = _parser_source(groups, tracking, json_keys=True, transforms=fmt.transforms)
        else:
            pattern = compile_regex(fmt.regex)
            match = pattern.match
            groups = dict(pattern.groupindex)
            plan = split_plan(fmt) if fast_path and pattern.groups == len(groups) else None
            self.source = _parser_source(
                groups,
                tracking,
                fast=(_fast_lines(plan, groups) if plan else None),
                fast_parts=len(plan) if plan else 0,
                comments=fmt.comments,
                transforms=fmt.transforms,
            )
        hosts: dict[str, str | None] = {}
        date = DateParser(fmt.date, resolve_zone(timezone))
        checks = {
            "vhost_of": _CachedFullmatch(FIELD_PATTERNS["vhost"], "host"),
            "ip_of": _CachedFullmatch(FIELD_PATTERNS["ip"], "ip"),
            "word_of": _CachedFullmatch(r'[^\s"]+', None),
        }
        namespace = {
            "match": match,
            "json_object": json_object,
            "extract": _extractor(fmt),
            "date": date,
            "known_date": date.cache.get,
            "is_known_date": date.cache.__contains__,
            "date_with_zone": date.with_zone,
            "new": tuple.__new__,
            "Hit": Hit,
            "NO_MATCH": NO_MATCH,
            "EMPTY": EMPTY,
            "BAD_DATE": BAD_DATE,
            "BAD_STATUS": BAD_STATUS,
            "HEADER": HEADER,
            "timedelta": timedelta,
            # No cache: a date the parser has not seen is checked once, then found in the parser's cache.
            "date_of": re.compile(FIELD_PATTERNS["clf_date"][len("(?P<date>") : -1]).fullmatch,
            **TRANSFORMS,
            "DELIMITER": tracking.query_string_delimiter,
            "LOG_HOSTNAME": tracking.log_hostname,
            "hosts": hosts,
            "normal_host": _normal_host,
            **checks,
            **{f"{name}_known": check.cache.get for name, check in checks.items()},
        }
        exec(compile(self.source, f"<parser {fmt.name}>", "exec"), namespace)
        self.parse: Callable[[str], Hit | str] = namespace["parse"]  # type: ignore[assignment]


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


class _CachedFullmatch:
    """token → the value the regex captures when the whole token matches ``pattern``, else None; cached.

    Generated code reads ``cache.get(token)`` first (a C call) and calls the object only on a miss.
    """

    __slots__ = ("_fullmatch", "_group", "cache")

    def __init__(self, pattern: str, group: str | None) -> None:
        self._fullmatch = re.compile(pattern).fullmatch
        self._group = group
        self.cache: dict[str, str | None] = {}

    def __call__(self, token: str) -> str | None:
        cache = self.cache
        value = cache.get(token, cache)
        if value is not cache:
            return value  # type: ignore[return-value]
        if len(cache) >= 50_000:
            cache.clear()
        m = self._fullmatch(token)
        value = cache[token] = (m.group(self._group) if self._group else token) if m else None
        return value


#: For each blank-separated field of the fast path: the group it gives, and how its value is read from the token
#: (None when the token is not what the regex would accept).
_TOKEN_CODE = {
    "vhost": ("host", "vhost_of"),
    "ip": ("ip", "ip_of"),
    "ident": ("", ""),
    "userid": ("userid", ""),
    "status": ("status", ""),
    "length": ("length", ""),
}
#: The checks of tokens that have no cached check: when the value is not what the regex would accept.
_TOKEN_WRONG = {
    "status": "len(g_status) != 3 or not g_status.isdecimal()",
    "length": "g_length != '-' and not g_length.isdecimal()",
}


def _fast_lines(plan: tuple[Piece, ...], gi: dict[str, int]) -> list[str] | None:
    """From ``parts = line.split('"')``, the groups ``Match.groups()`` would give, as ``g_<name>`` variables.

    The code runs inside a ``while True`` that it leaves with ``break`` to ask the regex, or with ``fast = True``
    and ``break`` when it has read the line. It accepts only what the format's regex accepts, with the same
    values: every stretch is checked as the regex checks it (blanks where it wants ``\\s+``, token counts, each
    token against its field's pattern, cached), and anything unusual (a backslash, a missing blank, a token of
    the wrong shape) is left to the regex. Cached checks are read with the cache's ``get`` first (a C call);
    the check itself runs once per distinct token. None when the plan does not give every group.
    """
    lines: list[str] = []
    add = lines.append
    produced: set[str] = set()

    def checked(var: str, check: str, token: str) -> None:
        """``var = check(token)``, leaving the fast path when the token is not of the field's shape."""
        add(f"{var} = {check}_known({token})")
        add(f"if {var} is None:")
        add(f"    {var} = {check}({token})")
        add(f"    if {var} is None:")
        add("        break")

    for piece in plan:
        if not piece.quoted and not piece.tokens and not piece.bracket_date:
            # Between two quoted fields: blanks only (or nothing, as the layout says); after the last, anything.
            if not piece.last:
                blank = piece.lead or piece.trail
                add(f"if not parts[{piece.index}].isspace():" if blank else f"if parts[{piece.index}]:")
                add("    break")
            continue
        if piece.quoted and piece.quoted != "request":
            add(f"g_{piece.quoted} = parts[{piece.index}]")
            produced.add(piece.quoted)
            continue
        add(f"t = parts[{piece.index}]")
        if piece.quoted == "request":
            add("g_method, sp, rest = t.partition(' ')")
            add("if not sp:")
            add("    break")
            checked("w", "word_of", "g_method")
            add("g_path, sp, protocol = rest.rpartition(' ')")
            add("if not sp:")
            add("    break")
            checked("w", "word_of", "protocol")
            produced |= {"method", "path"}
            continue
        if piece.index == 0:
            add("if not t or t[0].isspace():")
            add("    break")
        if piece.lead:
            add("if not t[:1].isspace():")
            add("    break")
        if piece.trail:
            add("if not t[-1:].isspace():")
            add("    break")
        words = "t"
        if piece.bracket_date:
            add("i = t.rfind('[')")
            add("j = t.find(']', i)")
            add(f"if i < {1 if piece.tokens else 0} or j < 0:")
            add("    break")
            if piece.tokens:
                add("if not t[i - 1].isspace():")
                add("    break")
            add("if not t[j + 1:].isspace():" if piece.trail else "if t[j + 1:]:")
            add("    break")
            add("g_date = t[i + 1:j]")
            # A string the date parser has seen came from a line the format accepted (the regex or this check).
            add("if not is_known_date(g_date) and date_of(g_date) is None:")
            add("    break")
            produced.add("date")
            words = "t[:i]"
        add(f"w = {words}.split()")
        count = len(piece.tokens)
        add(f"if len(w) {'<' if piece.last and not piece.bracket_date else '!='} {count}:")
        add("    break")
        for k, name in enumerate(piece.tokens):
            var, check = _TOKEN_CODE[name]
            if not var:
                continue
            if check:
                checked(f"g_{var}", check, f"w[{k}]")
            else:
                add(f"g_{var} = w[{k}]")
                if name in _TOKEN_WRONG:
                    add(f"if {_TOKEN_WRONG[name]}:")
                    add("    break")
            produced.add(var)
    if produced != set(gi):
        return None
    add("fast = True")
    add("break")
    return lines


def _parser_source(
    gi: dict[str, int],
    tracking: TrackingOptions,
    fast: list[str] | None = None,
    fast_parts: int = 0,
    json_keys: bool = False,
    comments: bool = False,
    transforms: tuple[tuple[str, str], ...] = (),
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
        var = {"user_agent": "ua", "referrer": "referrer"}.get(group)
        if var is None or transform not in TRANSFORMS:
            raise FormatError(
                f"transform {transform!r} of {group!r}: known are {', '.join(TRANSFORMS)} on user_agent and referrer."
            )
        add(f"    {var} = {transform}({var})")
    dash_means_empty("ip", "None")
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
    for var, pairs in (("page_cvars", tracking.page_cvars), ("visit_cvars", tracking.visit_cvars)):
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
        "page_cvars, visit_cvars))"
    )
    return "\n".join(lines) + "\n"
