"""Timestamps, parsed without the locale and once per distinct string.

A log writes the same timestamp for every line of one second, so each parser keeps a bounded cache from the
raw string to the aware UTC datetime. A parser returns ``None`` for a string it cannot read; the caller counts
the line as invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}

_CLF = re.compile(
    r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?\Z"
)
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\Z"
)

_CACHE_LIMIT = 100_000


@lru_cache(maxsize=512)
def _offset(text: str | None, default: tzinfo) -> tzinfo | None:
    """``+0200``, ``-07:00``, ``+05``, ``Z`` → a fixed offset; None when the text is not an offset."""
    if not text:
        return default
    if text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if not digits.isdigit() or len(digits) not in (2, 4):
        return None
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _micro(fraction: str | None) -> int:
    return int((fraction + "000000")[:6]) if fraction else 0


def _build(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, tz: tzinfo | None) -> datetime | None:
    if tz is None:
        return None
    try:
        return datetime(y, mo, d, h, mi, s, us, tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        return None


#: ``"00"`` … ``"59"`` → that many seconds, for adding to the start of a minute.
_SECONDS = {f"{n:02d}": timedelta(seconds=n) for n in range(60)}
#: (``dd/Mon/yyyy:hh:mm``, offset) → the UTC start of that minute, for the usual 26-character CLF timestamp.
_MINUTES: dict[tuple[str, str], datetime] = {}


def _clf_minute(text: str, default_tz: tzinfo) -> datetime | None:
    """The UTC start of the minute of a 26-character CLF timestamp (its seconds already checked)."""
    month = MONTHS.get(text[3:6].lower())
    digits = text[0:2] + text[7:11] + text[12:14] + text[15:17]
    if month is None or not digits.isdecimal():
        return None
    return _build(
        int(text[7:11]),
        month,
        int(text[0:2]),
        int(text[12:14]),
        int(text[15:17]),
        0,
        0,
        _offset(text[21:], default_tz),
    )


def parse_clf(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
    """``10/Oct/2000:13:55:36 -0700`` (Apache, nginx), with optional fraction; C month names only.

    The usual shape is worked out once per minute: a new second is the minute's start plus its seconds.
    """
    if len(text) == 26 and text[2] == "/" and text[6] == "/" and text[11] == ":" and text[20] == " ":
        second = _SECONDS.get(text[18:20])
        if second is not None and text[14] == text[17] == ":":
            key = (text[:17], text[21:])
            start = _MINUTES.get(key)
            if start is None:
                start = _clf_minute(text, default_tz)
                if start is None:
                    return None
                if len(_MINUTES) >= _CACHE_LIMIT:
                    _MINUTES.clear()
                _MINUTES[key] = start
            return start + second
    m = _CLF.match(text)
    if not m:
        return None
    month = MONTHS.get(m.group(2).lower())
    if month is None:
        return None
    return _build(
        int(m.group(3)),
        month,
        int(m.group(1)),
        int(m.group(4)),
        int(m.group(5)),
        int(m.group(6)),
        _micro(m.group(7)),
        _offset(m.group(8), default_tz),
    )


def parse_iso(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
    """ISO 8601 / RFC 3339: ``2024-02-10T16:42:07.123+01:00``, ``…Z``, or with a space instead of ``T``.

    ``datetime.fromisoformat`` reads the usual shapes first (Python 3.11 takes ``Z`` and any fraction), at a
    twentieth of the regex's cost: with fractions of seconds every line has a timestamp of its own, so JSON
    logs pay this once per line. What it refuses, or a shape it reads more widely than this function does, goes
    to the regex."""
    if len(text) >= 19 and text[4] == "-" and text[7] == "-" and text[10] in "T " and text[13] == ":":
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if value.tzinfo is None:
                value = value.replace(tzinfo=default_tz)
            return value.astimezone(timezone.utc)
    return iso_by_regex(text, default_tz)


def iso_by_regex(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
    """:func:`parse_iso` without ``fromisoformat``: every shape it reads, and the yardstick of its tests."""
    m = _ISO.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    return _build(y, mo, d, h, mi, s, _micro(m.group(7)), _offset(m.group(8), default_tz))


def _from_units(text: str, per_second: int) -> datetime | None:
    """An integer count of 1/per_second seconds since 1970 (exact: no float on the way), or a decimal."""
    text = text.strip()
    try:
        if text.lstrip("-").isdigit():
            whole, rest = divmod(int(text), per_second)
            return datetime.fromtimestamp(whole, timezone.utc) + timedelta(microseconds=rest * 1_000_000 // per_second)
        return datetime.fromtimestamp(float(text) / per_second, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def parse_epoch(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
    """Time since 1970 in seconds (a fraction or not), or, told apart by their size, in milliseconds (13
    digits), microseconds (16) or nanoseconds (19: Cloudflare's ``unixnano``)."""
    digits = len(text.strip().lstrip("-").partition(".")[0])
    per_second = 1 if digits <= 11 else 1000 if digits <= 14 else 1_000_000 if digits <= 17 else 1_000_000_000
    return _from_units(text, per_second)


def _epoch_in(per_second: int) -> Callable[[str, tzinfo], datetime | None]:
    def parse(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
        return _from_units(text, per_second)

    return parse


def strptime_parser(fmt: str) -> Callable[[str, tzinfo], datetime | None]:
    """A parser for a user's strptime format (``--log-date-format``); ``%z`` is honoured when present."""

    def parse(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=default_tz)
        return value.astimezone(timezone.utc)

    return parse


def parse_epoch_or_iso(text: str, default_tz: tzinfo = timezone.utc) -> datetime | None:
    """A number since 1970 (see :func:`parse_epoch`) or an ISO 8601 / RFC 3339 time: what a CDN may be set to."""
    if "T" in text or ":" in text or text.count("-") > 1:
        return parse_iso(text, default_tz)
    return parse_epoch(text, default_tz)


NAMED_PARSERS: dict[str, Callable[[str, tzinfo], datetime | None]] = {
    "clf": parse_clf,
    "iso8601": parse_iso,
    "epoch": parse_epoch,
    "epoch_s": _epoch_in(1),
    "epoch_ms": _epoch_in(1000),
    "epoch_us": _epoch_in(1_000_000),
    "epoch_ns": _epoch_in(1_000_000_000),
    "epoch_or_iso8601": parse_epoch_or_iso,
}


class DateParser:
    """Parses one format's timestamps, remembering up to 100,000 distinct strings.

    ``spec`` is a name from :data:`NAMED_PARSERS` or a strptime format. A separate time zone field
    (``timezone`` group) is appended to the text before parsing, as ``+HHMM``.
    """

    __slots__ = ("_default_tz", "_parse", "cache")

    def __init__(self, spec: str, default_tz: tzinfo = timezone.utc) -> None:
        self._parse = NAMED_PARSERS.get(spec) or strptime_parser(spec)
        self._default_tz = default_tz
        self.cache: dict[str, datetime | None] = {}

    def __call__(self, text: str) -> datetime | None:
        cache = self.cache
        value = cache.get(text, cache)
        if value is not cache:
            return value  # type: ignore[return-value]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        value = cache[text] = self._parse(text.strip(), self._default_tz)
        return value

    def with_zone(self, text: str, zone: str | None) -> datetime | None:
        """A timestamp whose offset stands in a field of its own (``-0500``, ``+01:00``, ``Z``)."""
        if not zone or zone == "-":
            return self(text)
        key = f"{text}\x00{zone}"
        cache = self.cache
        try:
            return cache[key]
        except KeyError:
            pass
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        tz = _offset(zone.strip(), self._default_tz)
        value = cache[key] = None if tz is None else self._parse(text.strip(), tz)
        return value


def resolve_zone(name: str | None) -> tzinfo:
    """``--timezone``: ``UTC``, an offset (``+0200``, ``-05:00``) or an IANA name (``Europe/Paris``, DST-aware)."""
    from import_logs.errors import ConfigError

    if not name:
        return timezone.utc
    fixed = _offset(name.strip(), timezone.utc) if name.strip()[:1] in "+-" else None
    if fixed is not None:
        return fixed
    if name.strip().upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name.strip())
    except (KeyError, ValueError, OSError, ImportError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(
            f"--timezone {name}: not a time zone. Give an offset such as +0200, or a name such as Europe/Paris."
        ) from None


def format_cdt(value: datetime) -> str:
    """The tracking API's ``cdt``: UTC ``YYYY-MM-DD HH:MM:SS``, whole seconds (a fraction is dropped, not rounded),
    as both reference importers send it and the trackers document it. The hit keeps its sub-second time for
    the importer's own use."""
    value = value.astimezone(timezone.utc)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
