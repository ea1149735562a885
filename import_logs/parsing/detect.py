"""Detection: the most specific bundled format for the first lines of a file.

Each candidate scores the number of named groups it captures, summed over the sample lines it matches, so a
format with more fields wins only where it really matches; a tie keeps the earlier format. W3C templates are
scored by their ``#Fields:`` line (:func:`~import_logs.parsing.w3c.detect_w3c`).
"""

from __future__ import annotations

from typing import Any

from import_logs.config import W3COptions
from import_logs.errors import FormatError
from import_logs.parsing.formats import FormatDef, builtin_formats, compile_regex, dig, json_object
from import_logs.parsing.w3c import detect_w3c

#: How many written lines detection reads.
DETECT_LINES = 50


def first_lines(lines: list[str]) -> list[str]:
    """The lines that detection looks at: the first written ones."""
    return [line for line in lines if line.strip()][:DETECT_LINES]


def excerpt(line: str, width: int = 120) -> str:
    """A line as a message shows it: quoted, its control characters escaped once. Its bytes that are not text
    were read as ``\\xNN`` already (``backslashreplace``), which ``repr`` would escape a second time."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line[:width])
    return f"'{shown}'"


def detect(lines: list[str], *, path: str, w3c_options: Any = None) -> FormatDef:
    """The most specific bundled format for the first lines of a file.

    Each candidate scores the number of named groups it captures, summed over the sample lines it matches,
    so a format with more fields wins only where it really matches; a tie keeps the earlier format.
    """
    sample = first_lines(lines)
    candidates = [f for f in builtin_formats().values() if f.detect]
    tried = tuple(c.name for c in candidates)
    best: FormatDef | None = None
    best_score = 0
    templates = [f for f in candidates if f.kind == "w3c"]
    if templates:
        found = detect_w3c(templates, lines, w3c_options or W3COptions())
        if found is not None:
            best, best_score = found
        candidates = [f for f in candidates if f.kind != "w3c"]
    objects: list[dict[str, Any] | None] | None = None
    for candidate in candidates:
        if candidate.kind == "json":
            if objects is None:
                objects = [json_object(line) if line.lstrip().startswith("{") else None for line in sample]
            width = len(candidate.keys)
            keys = candidate.detect_keys
            score = sum(width for obj in objects if obj is not None and all(dig(obj, k) is not None for k in keys))
        else:
            pattern = compile_regex(candidate.regex)
            width = len(pattern.groupindex)
            score = sum(width for line in sample if pattern.match(line))
        if score > best_score:
            best, best_score = candidate, score
    if best is None:
        raise FormatError(
            f"{path}: no known format matches the first lines (tried: {', '.join(tried)}). "
            f"First line: {excerpt(sample[0] if sample else '')}. Name the format with --log-format-name or give "
            "--log-format-regex.",
            path=path,
            tried=tried,
        )
    return best
