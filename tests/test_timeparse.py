from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from import_logs.errors import ConfigError
from import_logs.parsing.timeparse import (
    NAMED_PARSERS,
    DateParser,
    format_cdt,
    iso_by_regex,
    parse_clf,
    parse_epoch,
    parse_epoch_or_iso,
    parse_iso,
    resolve_zone,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/Oct/2000:13:55:36 -0700", utc(2000, 10, 10, 20, 55, 36)),
        ("10/oct/2000:13:55:36 +0000", utc(2000, 10, 10, 13, 55, 36)),
        ("01/Jan/2024:00:10:00 +0130", utc(2023, 12, 31, 22, 40, 0)),
        ("01/Jan/2024:00:10:00 -0040", utc(2024, 1, 1, 0, 50, 0)),
        ("25/Sep/2018:06:05:27.584 +0000", utc(2018, 9, 25, 6, 5, 27, 584000)),
        ("10/Oct/2000:13:55:36", utc(2000, 10, 10, 13, 55, 36)),
        ("31/Feb/2000:13:55:36 +0000", None),
        ("10/Okt/2000:13:55:36 +0000", None),
        ("10/Oct/2000:13:55:36 +2500", None),
    ],
)
def test_clf(text: str, expected: datetime | None) -> None:
    assert parse_clf(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-10T16:42:07+01:00", utc(2024, 2, 10, 15, 42, 7)),
        ("2024-02-10T16:42:07Z", utc(2024, 2, 10, 16, 42, 7)),
        ("2024-02-10T16:42:07.123456789Z", utc(2024, 2, 10, 16, 42, 7, 123456)),
        ("2024-02-10 16:42:07", utc(2024, 2, 10, 16, 42, 7)),
        ("2024-02-10T16:42:07-0330", utc(2024, 2, 10, 20, 12, 7)),
        ("2024-13-10T16:42:07Z", None),
    ],
)
def test_iso(text: str, expected: datetime | None) -> None:
    assert parse_iso(text) == expected


def test_epoch_seconds_and_milliseconds() -> None:
    assert parse_epoch("1707583327") == utc(2024, 2, 10, 16, 42, 7)
    assert parse_epoch("1707583327.5") == utc(2024, 2, 10, 16, 42, 7, 500000)
    assert parse_epoch("1707583327500") == utc(2024, 2, 10, 16, 42, 7, 500000)
    assert parse_epoch("soon") is None


def test_a_default_zone_applies_only_without_an_offset() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert parse_clf("10/Oct/2000:13:55:36", plus2) == utc(2000, 10, 10, 11, 55, 36)
    assert parse_clf("10/Oct/2000:13:55:36 +0000", plus2) == utc(2000, 10, 10, 13, 55, 36)


def test_parser_caches_per_distinct_string() -> None:
    parser = DateParser("clf")
    first = parser("10/Oct/2000:13:55:36 -0700")
    assert parser("10/Oct/2000:13:55:36 -0700") is first
    assert parser.with_zone("10/Oct/2000:13:55:36", "-0700") == first
    assert parser.with_zone("10/Oct/2000:13:55:36", "bogus") is None


def test_strptime_format() -> None:
    parser = DateParser("%B - %d, %Y:%H:%M:%S")
    assert parser("February - 10, 2012:16:42:07") == utc(2012, 2, 10, 16, 42, 7)
    assert parser("nonsense") is None


def test_cdt_is_utc_in_whole_seconds() -> None:
    assert format_cdt(utc(2024, 2, 10, 21, 42, 7)) == "2024-02-10 21:42:07"
    assert format_cdt(utc(2024, 2, 10, 21, 42, 7, 5)) == "2024-02-10 21:42:07"
    assert format_cdt(utc(2024, 2, 10, 23, 59, 59, 999_999)) == "2024-02-10 23:59:59"  # not the next day
    local = datetime(2024, 2, 10, 23, 42, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_cdt(local) == "2024-02-10 21:42:07"


@pytest.mark.parametrize(
    ("name", "local", "utc_hour"),
    [(None, 12, 12), ("UTC", 12, 12), ("+0200", 12, 10), ("-05:00", 12, 17), ("Europe/Paris", 12, 11)],
)
def test_timezone_for_dates_without_an_offset(name: str | None, local: int, utc_hour: int) -> None:
    parser = DateParser("clf", resolve_zone(name))
    assert parser(f"10/Feb/2024:{local}:00:00") == utc(2024, 2, 10, utc_hour, 0, 0)
    assert parser("10/Feb/2024:12:00:00 +0000") == utc(2024, 2, 10, 12, 0, 0)  # a written offset wins


def test_named_zones_follow_daylight_saving() -> None:
    paris = DateParser("clf", resolve_zone("Europe/Paris"))
    assert paris("10/Jul/2024:12:00:00") == utc(2024, 7, 10, 10, 0, 0)


def test_unknown_zone() -> None:
    with pytest.raises(ConfigError, match=r"--timezone Mars/Olympus: not a time zone\. Give an offset such as"):
        resolve_zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("1707601327", 0),
        ("1707601327.25", 250000),
        ("1707601327250", 250000),
        ("1707601327250001", 250001),
        ("1707601327250001999", 250001),  # nanoseconds: exact, no float rounding on the way
    ],
)
def test_epoch_in_any_unit_by_its_size(text: str, micro: int) -> None:
    value = parse_epoch(text)
    assert value == datetime(2024, 2, 10, 21, 42, 7, micro, tzinfo=timezone.utc)


def test_epoch_units_named_and_rfc3339_for_cdns() -> None:
    expected = datetime(2024, 2, 10, 21, 42, 7, tzinfo=timezone.utc)
    assert NAMED_PARSERS["epoch_ms"]("1707601327000", timezone.utc) == expected
    assert NAMED_PARSERS["epoch_ns"]("1707601327000000000", timezone.utc) == expected
    assert NAMED_PARSERS["epoch_s"]("1707601327", timezone.utc) == expected
    assert parse_epoch_or_iso("2024-02-10T21:42:07Z") == expected
    assert parse_epoch_or_iso("1707601327000000000") == expected
    assert parse_epoch_or_iso("junk") is None


@settings(max_examples=2000, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    sep=st.sampled_from(["T", " "]),
    fraction=st.sampled_from(["", ".1", ".123", ".123456", ".1234567", ".123456789", ",5"]),
    zone=st.sampled_from(["", "Z", "z", "+01:00", "-0530", "+05", "+00:00", " +0100", "+14:00"]),
    local=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
)
def test_the_fast_iso_reading_agrees_with_the_regex(
    when: datetime, sep: str, fraction: str, zone: str, local: str
) -> None:
    text = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + fraction + zone
    default = resolve_zone(local)
    assert parse_iso(text, default) == iso_by_regex(text, default), text
