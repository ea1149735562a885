"""Log formats: declarative definitions loaded from ``formats/``, compiled once, and detected.

A definition is a JSON object (the same schema for the bundled ones and a user's own file)::

    {"name": "common",
     "description": "one line for `import-logs --list-formats`",
     "aliases": ["clf"],
     "layout": "{ip} {ident} {userid} [{clf_date}] \\"{request}\\" {status} {length}",
     "fields": {"my_field": "(?P<my_field>\\\\S+)"},   # optional: placeholders of its own
     "regex": "...",                                # instead of "layout": a regex with named groups
     "date": "clf",                                 # clf | iso8601 | epoch | a strptime format
     "detect": true,                                # take part in detection (default true)
     "sample": "one line of the format"}

In a layout, ``{name}`` stands for a field pattern (:data:`FIELD_PATTERNS` or the definition's own
``fields``), a space stands for one or more blanks, and anything else is literal. Every field pattern
consumes a class of characters that cannot also be the next separator, so matching a line takes linear time
whatever the input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import ujson

from import_logs.errors import FormatError

#: The named groups a format may capture, and what the importer makes of them.
KNOWN_GROUPS = {
    "ip": "client IP address",
    "host": "virtual host name",
    "userid": "authenticated user (sent as uid)",
    "date": "timestamp (read with the format's date rule)",
    "time": "time of day, when the date stands in a field of its own (W3C, CloudFront)",
    "timezone": "UTC offset of the timestamp when it stands in a field of its own",
    "method": "HTTP method",
    "path": "requested path, with or without the query string",
    "query_string": "query string, when the format keeps it apart",
    "status": "HTTP status code",
    "length": "response size in bytes",
    "referrer": "Referer header",
    "user_agent": "User-Agent header",
    "generation_time_milli": "time taken, milliseconds",
    "generation_time_micro": "time taken, microseconds",
    "generation_time_secs": "time taken, seconds",
    "generation_time_nano": "time taken, nanoseconds",
    "x_forwarded_for": "X-Forwarded-For header: the client and its proxies (read with --client-ip-from "
    "x-forwarded-for)",
}

#: The inside of a double-quoted field, with backslash escapes. Written as Friedl's unrolled loop: a run of
#: ordinary characters, then escape + run, repeated. Only a backslash starts the second part, so there is one
#: way to match any text (linear time), and each run is a single scanning opcode (3x faster than an alternation).
_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
FIELD_PATTERNS = {
    # One address, or a list of them (``client, proxy``: X-Forwarded-For logged as the client field).
    "ip": r"(?P<ip>[\w.:%*-]+(?:, ?[\w.:%*-]+)*)",
    "vhost": r"(?P<host>[\w.-]+)(?::\d+)?",  # not empty: see W3C_FIELDS
    "ident": r"\S+",
    "userid": r"(?P<userid>\S+)",
    "clf_date": r"(?P<date>\d{1,2}/[A-Za-z]{3}/\d{4}:\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?: [+-]\d{4})?)",
    "request": r'(?P<method>[^\s"]+) (?P<path>' + _QUOTED + r') [^\s"]+',
    "status": r"(?P<status>\d{3})",
    "length": r"(?P<length>\d+|-)",
    "referrer": r"(?P<referrer>" + _QUOTED + ")",
    "user_agent": r"(?P<user_agent>" + _QUOTED + ")",
    # nginx's $http_x_forwarded_for: the client and the proxies it came through, or "-".
    "x_forwarded_for": r"(?P<x_forwarded_for>" + _QUOTED + ")",
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: How many leading lines detection reads at most, and how many of them must be non-blank.


@dataclass(frozen=True)
class FormatDef:
    """One log format, as declared. Hashable and picklable: it travels to the workers."""

    name: str
    description: str
    regex: str
    date: str = "clf"
    aliases: tuple[str, ...] = ()
    detect: bool = True
    sample: str = ""
    order: int = 0
    #: The layout it was compiled from ("" for a regex format): where the split fast path comes from.
    layout: str = ""
    #: "regex" (lines matched by ``regex``) or "json" (one object a line, groups taken from ``keys``).
    kind: str = "regex"
    #: JSON formats: each group and the paths of keys (and list indexes) to its value, the first present wins.
    keys: tuple[tuple[str, tuple[tuple[str | int, ...], ...]], ...] = ()
    #: JSON formats: keys that a line must have to be taken for this format.
    #: JSON: the keys (or paths of keys, for nested objects) every line of the format has.
    detect_keys: tuple[tuple[str | int, ...], ...] = ()
    #: W3C templates: field name → pattern, on top of :data:`W3C_FIELDS`; the regex is built from ``#Fields:``.
    w3c: tuple[tuple[str, str], ...] = ()
    #: Lines starting with ``#`` are headers (W3C): skipped and counted as such, never invalid.
    comments: bool = False
    #: A line that starts so is a header (a CSV log's column names): counted as skipped, not as invalid.
    header: str = ""
    #: Named value transforms: (group, transform) applied after reading, e.g. ("user_agent", "url_decode").
    transforms: tuple[tuple[str, str], ...] = ()

    @property
    def groups(self) -> frozenset[str]:
        if self.kind == "json":
            return frozenset(name for name, _ in self.keys)
        return frozenset(compile_regex(self.regex).groupindex)


def layout_to_regex(layout: str, fields: dict[str, str] | None = None, *, where: str = "") -> str:
    """Turn ``{ip} [{clf_date}] "{request}"`` into a regex anchored at the start of the line."""
    patterns = {**FIELD_PATTERNS, **(fields or {})}
    out = ["^"]
    pos = 0
    for m in _PLACEHOLDER.finditer(layout):
        out.append(_literal(layout[pos : m.start()]))
        try:
            out.append(f"(?:{patterns[m.group(1)]})")  # a field's own alternation must not split the line's
        except KeyError:
            known = ", ".join(sorted(patterns))
            raise FormatError(
                f"{where or 'layout'}: unknown field {{{m.group(1)}}}. Known fields: {known}; "
                'or declare it under "fields".'
            ) from None
        pos = m.end()
    out.append(_literal(layout[pos:]))
    return "".join(out)


def _literal(text: str) -> str:
    return r"\s+".join(re.escape(part) for part in text.split(" "))


@lru_cache(maxsize=64)
def compile_regex(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def from_definition(data: dict[str, Any], *, where: str, order: int = 0) -> FormatDef:
    """Build a :class:`FormatDef` from a parsed definition; ``where`` names it in error messages."""
    try:
        name = str(data["name"])
    except KeyError:
        raise FormatError(f'{where}: a format definition needs a "name".') from None
    if data.get("kind") == "json":
        return _json_definition(data, name, where=where, order=order)
    if data.get("kind") == "w3c":
        return FormatDef(
            name=name,
            description=str(data.get("description", "")),
            regex="",
            date="iso8601",
            aliases=tuple(data.get("aliases", ())),
            detect=bool(data.get("detect", True)),
            sample=str(data.get("sample", "")),
            order=order,
            kind="w3c",
            w3c=tuple(data.get("fields", {}).items()),
            comments=True,
            transforms=tuple(data.get("transforms", {}).items()),
        )
    layout = ""
    if "regex" in data:
        regex = str(data["regex"])
    elif "layout" in data:
        layout = "" if data.get("fields") else str(data["layout"])
        regex = layout_to_regex(str(data["layout"]), data.get("fields"), where=where)
    else:
        raise FormatError(f'{where}: format {name!r} needs a "layout" or a "regex".')
    definition = FormatDef(
        name=name,
        description=str(data.get("description", "")),
        regex=regex,
        date=str(data.get("date", "clf")),
        aliases=tuple(data.get("aliases", ())),
        detect=bool(data.get("detect", True)),
        sample=str(data.get("sample", "")),
        order=order,
        layout=layout,
        transforms=tuple(data.get("transforms", {}).items()),
        header=str(data.get("header", "")),
    )
    check_regex(definition.regex, where=where)
    return definition


def _json_definition(data: dict[str, Any], name: str, *, where: str, order: int) -> FormatDef:
    keys = data.get("keys")
    if not isinstance(keys, dict) or "date" not in keys:
        raise FormatError(f'{where}: JSON format {name!r} needs "keys" mapping at least "date" (and "path").')
    unknown = sorted(set(keys) - set(KNOWN_GROUPS))
    if unknown:
        raise FormatError(f"{where}: unknown group(s) {', '.join(unknown)}. Known: {', '.join(KNOWN_GROUPS)}.")

    def alternatives(path: Any) -> tuple[tuple[str | int, ...], ...]:
        if isinstance(path, list) and path and all(isinstance(p, list) for p in path):
            return tuple(tuple(p) for p in path)
        return (tuple(path) if isinstance(path, list) else (path,),)

    paths = tuple((group, alternatives(path)) for group, path in keys.items())
    return FormatDef(
        name=name,
        description=str(data.get("description", "")),
        regex="",
        date=str(data.get("date", "iso8601")),
        aliases=tuple(data.get("aliases", ())),
        detect=bool(data.get("detect", True)),
        sample=str(data.get("sample", "")),
        order=order,
        kind="json",
        keys=paths,
        detect_keys=tuple(tuple(k) if isinstance(k, list) else (k,) for k in data.get("detect_keys", ())),
        transforms=tuple(data.get("transforms", {}).items()),
    )


def dig(obj: Any, path: tuple[str | int, ...]) -> Any:
    """The value at a path of keys and list indexes in parsed JSON, or None."""
    for step in path:
        if isinstance(step, int):
            obj = obj[step] if isinstance(obj, list) and -len(obj) <= step < len(obj) else None
        else:
            obj = obj.get(step) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


#: nginx's ``\\xHH`` (an escape: after an even run of backslashes, with two hex digits). An escaped backslash
#: followed by ``x`` (a path ``C:\\xfiles`` logged as JSON) is text, and stays as it is.
_NGINX_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})")


def json_object(line: str) -> dict[str, Any] | None:
    """A line as a JSON object; nginx's ``\\xHH`` escapes of undecodable bytes are read as ``\\u00HH``.

    ujson reads a line in 0.65 of the time ``json`` takes; what it refuses is read by ``json``, so a line is an
    object exactly when the standard library says it is."""
    if "\\x" in line:
        line = _NGINX_ESCAPE.sub(r"\1\\u00\2", line)
    try:
        obj = ujson.loads(line)
    except ValueError:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: a line of a million '['
            return None
    return obj if isinstance(obj, dict) else None


def check_regex(regex: str, *, where: str) -> None:
    """A regex must compile and capture at least a date and a path (or a status) to make a hit of."""
    try:
        pattern = compile_regex(regex)
    except re.error as exc:
        raise FormatError(f"{where}: the regex does not compile ({exc}). Fix the pattern.") from None
    missing = [g for g in ("date", "path") if g not in pattern.groupindex]
    if missing:
        raise FormatError(
            f"{where}: the regex has no named group {', '.join(repr(g) for g in missing)}. "
            "Name the groups (?P<date>...) and (?P<path>...); the README's Log formats section lists every group."
        )


def _formats_dir() -> Path:
    packaged = resources.files("import_logs").joinpath("formats")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "formats"  # a source checkout


@lru_cache(maxsize=1)
def builtin_formats() -> dict[str, FormatDef]:
    """The bundled formats by name, in detection order (the reference importers' order)."""
    order = [
        "common", "common_vhost", "ncsa_extended", "common_complete", "nginx_main", "w3c_extended", "amazon_cloudfront",
        "incapsula_w3c", "iis", "shoutcast", "s3", "icecast2", "elb", "traefik_json", "nginx_json", "caddy_json",
        "ovh", "haproxy", "gandi",
    ]  # fmt: skip
    found: dict[str, FormatDef] = {}
    for path in sorted(_formats_dir().glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        name = data.get("name", path.stem)
        rank = order.index(name) if name in order else len(order)
        found[name] = from_definition(data, where=path.name, order=rank)
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def get_format(name: str) -> FormatDef:
    """A bundled format by name or alias; an unknown name says which exist."""
    formats = builtin_formats()
    if name in formats:
        return formats[name]
    for definition in formats.values():
        if name in definition.aliases:
            return definition
    raise FormatError(
        f"unknown log format {name!r}. Known formats: {', '.join(formats)}. "
        "Run `import-logs --list-formats` to see them, or give --log-format-regex."
    )


def user_regex_format(regex: str, date_format: str | None) -> FormatDef:
    """``--log-format-regex`` with ``--log-date-format`` (default: the Apache/nginx time format)."""
    definition = FormatDef(
        name="custom",
        description="--log-format-regex",
        regex=regex,
        date=date_format or "clf",
        detect=False,
    )
    check_regex(regex, where="--log-format-regex")
    return definition


def load_format_file(path: str) -> FormatDef:
    """A user's own definition file, in the schema of the bundled ones."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the format file ({exc.strerror}).", path=path) from None
    except ValueError as exc:
        raise FormatError(f"{path}: the format file is not valid JSON ({exc}).", path=path) from None
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a format file holds one JSON object.", path=path)
    return from_definition(data, where=path)


#: Fields the split fast path reads as one blank-separated token, and as one double-quoted string.
SPLIT_TOKENS = frozenset({"vhost", "ip", "ident", "userid", "status", "length"})
SPLIT_QUOTED = frozenset({"request", "referrer", "user_agent", "x_forwarded_for"})
_BRACKET_DATE = "[{clf_date}]"


@dataclass(frozen=True)
class Piece:
    """The text between two double quotes of a line (``line.split('"')[index]``), as the layout has it."""

    index: int
    #: A quoted field (``request``, ``referrer``, ``user_agent``), or "" for unquoted text.
    quoted: str = ""
    #: Unquoted text: its blank-separated fields, then maybe a bracketed CLF date.
    tokens: tuple[str, ...] = ()
    bracket_date: bool = False
    #: The layout has blanks before / after this text (the regex's ``\s+``).
    lead: bool = False
    trail: bool = False
    #: The last piece: the line may go on after it (the regex is not anchored at the end).
    last: bool = False


def split_plan(fmt: FormatDef) -> tuple[Piece, ...] | None:
    """How to read a line of this format with ``str.split`` instead of the regex, when the layout allows.

    Only layouts of blank-separated tokens, a bracketed CLF date at the end of an unquoted stretch, and whole
    double-quoted fields qualify (the Apache/nginx family). None otherwise.
    """
    if not fmt.layout:
        return None
    texts = fmt.layout.split('"')
    pieces = []
    for index, text in enumerate(texts):
        last = index == len(texts) - 1
        if index % 2:
            name = text[1:-1] if text.startswith("{") and text.endswith("}") else ""
            if name not in SPLIT_QUOTED:
                return None
            pieces.append(Piece(index, quoted=name))
            continue
        words = text.split()
        bracket = bool(words) and words[-1] == _BRACKET_DATE
        if bracket:
            words = words[:-1]
        names = [w[1:-1] for w in words if w.startswith("{") and w.endswith("}")]
        if len(names) != len(words) or not set(names) <= SPLIT_TOKENS or (index == 0 and text[:1].isspace()):
            return None
        lead = index > 0 and text[:1] == " "
        trail = not last and text[-1:] == " "
        pieces.append(Piece(index, tokens=tuple(names), bracket_date=bracket, lead=lead, trail=trail, last=last))
    return tuple(pieces)
