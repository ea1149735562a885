"""The W3C extended family (generic, IIS, CloudFront, Shoutcast, Incapsula): a regex built from ``#Fields:``.

A W3C definition in ``formats/`` is a template: patterns for some field names on top of :data:`W3C_FIELDS`.
The regex of a file is made from its ``#Fields:`` line (or ``--w3c-fields``), and made again wherever a new
``#Fields:`` line appears in the middle of the file (IIS writes one at every restart). Dates are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from import_logs.config import W3COptions
from import_logs.errors import FormatError
from import_logs.parsing.formats import FormatDef, check_regex
from import_logs.sources.kinds import Source

#: Every field matches at least one character (W3C writes "-" for an empty one): a field that could match nothing
#: between two ``\s+`` lets a run of blanks be cut in many ways, and the regex backtracks polynomially over it.
W3C_FIELDS = {
    "date": r'"?(?P<date>\d{4}-\d\d-\d\d)"?',
    "time": r'"?(?P<time>\d\d:\d\d:\d\d(?:\.\d+)?)"?',
    "cs-uri-stem": r"(?P<path>/\S*)",
    "cs-uri-query": r"(?P<query_string>\S+)",
    "c-ip": r'"?(?P<ip>[\w*.:%-]+)"?',
    "cs(User-Agent)": r'(?P<user_agent>"[^"]*"|\S+)',
    "cs(Referer)": r'(?P<referrer>"[^"]*"|\S+)',
    "sc-status": r"(?P<status>\d+)",
    "sc-bytes": r"(?P<length>\S+)",
    "cs-host": r"(?P<host>\S+)",
    "cs-method": r"(?P<method>\S+)",
    "cs-username": r"(?P<userid>\S+)",
    "time-taken": r"(?P<generation_time_secs>[.\d]+)",
}
UNKNOWN = r'"[^"]*"|\S+'
_GROUP = re.compile(r"\(\?P<(\w+)>")


def fields_of(line: str) -> list[str] | None:
    """The field names of a ``#Fields:`` line (any blanks after the colon), else None."""
    text = line.strip()
    if not text.startswith("#Fields:"):
        return None
    return text[len("#Fields:") :].split()


def header_fields(lines: list[str], options: W3COptions) -> list[str] | None:
    """The fields in effect for the first data line: --w3c-fields, else the last ``#Fields:`` before it."""
    if options.fields:
        return fields_of(options.fields) or options.fields.split()
    found = None
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith("#"):
            break
        found = fields_of(line) or found
    return found


def build(template: FormatDef, fields: list[str], options: W3COptions, *, where: str = "") -> FormatDef:
    """The concrete format of a template for these fields: a regex that reads one data line."""
    table = {**W3C_FIELDS, **dict(template.w3c)}
    if options.time_taken_millis:
        table["time-taken"] = r"(?P<generation_time_milli>[.\d]+)"
    rename = dict(options.map_fields)
    custom = dict(options.field_regexes)
    unknown = table.get("*", UNKNOWN)
    parts, seen = [], set()
    for field in fields:
        pattern = custom.get(field) or table.get(rename.get(field, field)) or unknown
        for name in _GROUP.findall(pattern):
            if name in seen:  # a second field for the same group: read it, do not capture it
                pattern = pattern.replace(f"(?P<{name}>", "(?:")
            seen.add(name)
        parts.append(f"(?:{pattern})")
    regex = "^" + r"\s+".join(parts)
    check_regex(regex, where=f"{where}: #Fields: {' '.join(fields)}" if where else "#Fields:")
    # The template's table stays, so that a new #Fields: line in the middle of the file can build again.
    return replace(template, kind="regex", regex=regex, date="iso8601", comments=True)


def detect_w3c(templates: list[FormatDef], lines: list[str], options: W3COptions) -> tuple[FormatDef, int] | None:
    """The best W3C template for these first lines, built from their ``#Fields:``, and its score."""
    fields = header_fields(lines, options)
    if fields is None:
        return None
    data = [line for line in lines if line.strip() and not line.startswith("#")]
    header = " ".join(line for line in lines if line.startswith("#")).lower()
    # Written by IIS (its #Software: line): IIS wins a tie, so that time-taken is read as milliseconds.
    preferred = "iis" if "internet information services" in header else ""
    best: tuple[FormatDef, int] | None = None
    for template in templates:
        try:
            fmt = build(template, fields, options)
        except FormatError:
            continue
        pattern = re.compile(fmt.regex)
        score = sum(pattern.groups for line in data if pattern.match(line))
        if score and (best is None or score > best[1] or (score == best[1] and template.name == preferred)):
            best = (fmt, score)
    return best


def cut_at_fields(offset: int, data: bytes) -> Iterator[tuple[int, bytes, list[str] | None]]:
    """A block of whole lines, cut before each ``#Fields:`` line; a piece that starts with one brings its fields."""
    cuts = [0] if data.startswith(b"#Fields:") else []
    at = data.find(b"\n#Fields:")
    while at >= 0:
        cuts.append(at + 1)
        at = data.find(b"\n#Fields:", at + 1)
    start, fields = 0, None
    for cut in cuts:
        if cut > start:
            yield offset + start, data[start:cut], fields
        end = data.find(b"\n", cut)
        fields = fields_of(data[cut : end if end >= 0 else len(data)].decode("utf-8", "replace"))
        start = cut
    if start < len(data):
        yield offset + start, data[start:], fields


def fields_before(source: Source, offset: int) -> list[str] | None:
    """The last ``#Fields:`` line in the first ``offset`` bytes of a source."""
    stream = source.open()
    found: list[str] | None = None
    carry = b""
    try:
        left = offset
        while left > 0:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            data = carry + chunk
            for _, _, fields in cut_at_fields(0, data[: data.rfind(b"\n") + 1]):
                found = fields or found
            carry = data[data.rfind(b"\n") + 1 :]
    finally:
        stream.close()
    return found
