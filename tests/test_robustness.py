"""No line crashes a parser: arbitrary bytes, mutated real lines, and 1 MB pathological lines.

That no line makes a parser backtrack without bound is tests/test_regex_linear.py's to show (each format in a
process of its own, killed at a deadline); no timing is asserted here.
"""

from __future__ import annotations

import functools

import pytest
from conftest import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from import_logs.config import TrackingOptions
from import_logs.parsing.detect import detect
from import_logs.parsing.formats import builtin_formats, get_format
from import_logs.parsing.hit import Hit, LineParser
from import_logs.pipeline.worker import split_lines

FORMATS = list(builtin_formats())
NASTY = ['"', "\\", "[", "]", " ", "\t", "{", "}", ":", "-", "/", "?", "\x00", "\udcff", "é", "\u2028", "0", "200"]


@functools.cache
def _sample(fmt: str) -> list[str]:
    """The data lines of a format's sample (W3C headers left out)."""
    lines = (SAMPLES / f"{fmt}.log").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.startswith("#")]


@functools.cache
def _parser(fmt: str) -> LineParser:
    definition = get_format(fmt)
    if definition.kind == "w3c":  # built from the sample's own #Fields: header
        definition = detect((SAMPLES / f"{fmt}.log").read_text(encoding="utf-8").splitlines(), path=fmt)
    return LineParser(definition, TrackingOptions())


def _check(parser: LineParser, line: str) -> None:
    result = parser.parse(line)
    assert isinstance(result, (Hit, str))


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_crash(fmt: str, data: bytes) -> None:
    parser = _parser(fmt)
    for line in split_lines(data, "utf-8") or [""]:
        _check(parser, line)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.integers(0, 10_000),
    cut=st.integers(0, 40),
    insert=st.lists(st.sampled_from(NASTY), max_size=12),
    row=st.integers(0, 19),
)
def test_mutated_sample_lines_never_crash(fmt: str, where: int, cut: int, insert: list[str], row: int) -> None:
    line = _sample(fmt)[row]
    where %= len(line) + 1
    _check(_parser(fmt), line[:where] + "".join(insert) + line[where + cut :])


@pytest.mark.parametrize("fmt", FORMATS)
def test_megabyte_lines_end_quickly(fmt: str) -> None:
    parser = _parser(fmt)
    sample = _sample(fmt)[0]
    mb = 1 << 20
    lines = [
        "a" * mb,
        '"' * mb,
        "[" * mb,
        " " * mb,
        '\\"' * (mb // 2),
        "{" * mb,
        sample[: len(sample) // 2] + "x" * mb + sample[len(sample) // 2 :],
        sample.replace(" ", " " * 1000, 8) + '"' + " x" * (mb // 2),
        sample + " " + '"a" ' * (mb // 4),
    ]
    for line in lines:  # that each runs in linear time is tests/test_regex_linear.py's to show
        _check(parser, line)
