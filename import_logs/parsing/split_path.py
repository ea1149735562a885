"""The split fast path: reading a line of the Apache/nginx family with ``str.split`` instead of its regex.

:func:`fast_lines` writes the code that :class:`~import_logs.parsing.hit.LineParser` puts in front of the regex; the
names that code uses (cached token checks, the date check) come from :func:`fast_namespace`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from import_logs.parsing.formats import FIELD_PATTERNS, Piece


class CachedFullmatch:
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


def fast_lines(plan: tuple[Piece, ...], gi: dict[str, int]) -> list[str] | None:
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
            # A string the date parser has seen came from a line the format accepted (the regex or this check):
            # its datetime (or None for a date that cannot be read) is looked up once, here, as ``time``.
            add("time = known_date(g_date)")
            add("if time is None and date_of(g_date) is None:")
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


def fast_namespace() -> dict[str, Callable[[str], Any]]:
    """The names the fast-path code uses: each token check, its cache's ``get`` (``<check>_known``), ``date_of``.

    Built once per parser, so that each parser has caches of its own.
    """
    checks = {
        "vhost_of": CachedFullmatch(FIELD_PATTERNS["vhost"], "host"),
        "ip_of": CachedFullmatch(FIELD_PATTERNS["ip"], "ip"),
        "word_of": CachedFullmatch(r'[^\s"]+', None),
    }
    return {
        **checks,
        **{f"{name}_known": check.cache.get for name, check in checks.items()},
        # No cache: a date the parser has not seen is checked once, then found in the parser's cache.
        "date_of": re.compile(FIELD_PATTERNS["clf_date"][len("(?P<date>") : -1]).fullmatch,
    }
