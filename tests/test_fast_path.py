"""The split fast path reads every line exactly as the format's regex does, or leaves it to the regex."""

from __future__ import annotations

import pytest
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from import_logs.config import TrackingOptions
from import_logs.parsing.formats import builtin_formats, get_format, split_plan
from import_logs.parsing.hit import LineParser

FORMATS = [name for name, fmt in builtin_formats().items() if split_plan(fmt)]
UA = "Mozilla/5.0 (X11; Linux x86_64)"
LINE = f'www.example.com 1.2.3.4 - bob [10/Feb/2024:16:42:07 -0500] "GET /a?b=1 HTTP/1.1" 200 512 "http://r/" "{UA}"'

EDGE_CASES = [
    LINE,
    LINE.replace(" 1.2.3.4 ", "  1.2.3.4\t"),
    LINE.replace(" -0500]", "]"),
    LINE.replace(" -0500]", "  -0500]"),
    LINE.replace("X11", 'X11 \\"quoted\\"'),
    LINE.replace("1.2.3.4", "1.2.3.4,5.6.7.8"),
    LINE.replace("www.example.com", "www.example.com:8080"),
    LINE.replace("www.example.com", ":8080"),
    LINE.replace("www.example.com", "ex@mple.com"),
    LINE.replace("/a?b=1", ""),
    LINE.replace("/a?b=1", "/a b c"),
    LINE.replace('"GET /a?b=1 HTTP/1.1"', '"-"'),
    LINE.replace('"GET /a?b=1 HTTP/1.1"', '"GET /"'),
    LINE.replace("GET /", "GET\t/"),
    LINE.replace("HTTP/1.1", "HTTP/1.1 extra"),
    LINE.replace(" 200 ", " 2000 "),
    LINE.replace(" 200 ", " 20x "),
    LINE.replace(" 512 ", " 12ab "),
    LINE.replace(" 512 ", " - "),
    LINE.replace(" 512 ", " ٥١٢ "),
    LINE + ' "extra" 0.004',
    LINE + "trailing",
    LINE.replace('] "GET', ']"GET'),
    LINE.replace('200 512 "', '200 512"'),
    " " + LINE,
    LINE.replace(" bob ", "\xa0bob\xa0"),
    LINE.replace(" bob ", " [bob] "),
    LINE.replace('"http://r/"', '""'),
    LINE.replace(f'"{UA}"', '""'),
    LINE.replace(f' "{UA}"', ""),
    LINE.replace('" "', '""'),
    LINE.replace("10/Feb/2024", "10/Fxb/2024"),
    LINE.replace("10/Feb/2024", "1/Feb/2024"),
    LINE.replace("16:42:07", "16:42:07.123"),
    LINE.replace("[10/Feb", "[[10/Feb"),
    LINE.replace("-0500]", "-0500]]"),
    LINE.replace('"http://r/"', '"http://r/\x85x"'),
    "",
    "garbage",
    '"',
]


def _both(fmt: str) -> tuple[LineParser, LineParser]:
    f = get_format(fmt)
    return LineParser(f, TrackingOptions()), LineParser(f, TrackingOptions(), fast_path=False)


def _views(line: str) -> list[str]:
    """A combined-with-vhost line as each format would write it."""
    host, rest = line.split(" ", 1) if " " in line else ("", line)
    common = rest.split(' "', 2)
    short = '"'.join(common[:2]) if len(common) > 1 else rest
    return [line, rest, short, f"{host} {short}"]


def test_the_apache_family_has_a_fast_path() -> None:
    assert {"common", "common_vhost", "ncsa_extended", "common_complete", "ovh"} <= set(FORMATS)
    assert "parts = line.split(" in LineParser(get_format("common_complete"), TrackingOptions()).source


@pytest.mark.parametrize("fmt", FORMATS)
def test_edge_cases_parse_the_same_both_ways(fmt: str) -> None:
    fast, slow = _both(fmt)
    for case in EDGE_CASES:
        for line in _views(case):
            assert fast.parse(line) == slow.parse(line), line


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_sample_line_parses_the_same_both_ways(fmt: str) -> None:
    fast, slow = _both(fmt)
    for sample in SAMPLES.glob("*.log"):
        for line in sample.read_text().splitlines():
            assert fast.parse(line) == slow.parse(line), line


TRICKY = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        '"',
        "\\",
        "[",
        "]",
        "-",
        ":",
        "/",
        "?",
        "=",
        "\xa0",
        "é",
        "0",
        "12",
        "200",
        "GET",
        "HTTP/1.1",
        "10/Feb/2024:16:42:07",
        "-0500",
        "1.2.3.4",
        "www.x.com",
        "\x85",
    ]
)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=1000, deadline=None)
@given(pieces=st.lists(TRICKY, max_size=40), mutate=st.integers(0, len(LINE)))
def test_mutated_lines_parse_the_same_both_ways(fmt: str, pieces: list[str], mutate: int) -> None:
    fast, slow = _both(fmt)
    for line in ("".join(pieces), LINE[:mutate] + "".join(pieces) + LINE[mutate:]):
        for view in _views(line):
            assert fast.parse(view) == slow.parse(view), view
