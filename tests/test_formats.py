"""Formats: (format, raw line) → expected record, detection on every sample, user formats."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from import_logs.config import TrackingOptions
from import_logs.errors import FormatError
from import_logs.parsing.detect import detect
from import_logs.parsing.formats import (
    FormatDef,
    builtin_formats,
    get_format,
    load_format_file,
    user_regex_format,
)
from import_logs.parsing.hit import BAD_DATE, EMPTY, NO_MATCH, Hit, LineParser

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def parse(fmt: str, line: str, **tracking: Any) -> Hit | str:
    return LineParser(get_format(fmt), TrackingOptions(**tracking)).parse(line)


CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "common",
        '203.0.113.7 - alice [10/Feb/2024:16:42:07 -0500] "GET /index.html HTTP/1.1" 200 5120',
        dict(
            ip="203.0.113.7",
            userid="alice",
            time=utc(2024, 2, 10, 21, 42, 7),
            method="GET",
            path="/index.html",
            query="",
            status=200,
            size=5120,
            host=None,
            referrer="",
            user_agent="",
        ),
    ),
    (
        "common",
        '2001:db8::1 - - [01/Jan/2024:00:30:00 +0100] "GET /a?b=c&d=e HTTP/2.0" 404 -',
        dict(
            ip="2001:db8::1",
            userid=None,
            time=utc(2023, 12, 31, 23, 30, 0),
            path="/a",
            query="b=c&d=e",
            status=404,
            size=0,
        ),
    ),
    (
        "common",
        '192.0.2.1 - - [29/Feb/2024:23:59:59 +0545] "POST /form with spaces HTTP/1.1" 302 12',
        dict(time=utc(2024, 2, 29, 18, 14, 59), method="POST", path="/form with spaces", status=302, size=12),
    ),
    (
        "common_vhost",
        'Shop.Example.COM. 192.0.2.45 - bob [10/Feb/2024:16:46:30 -0500] "GET / HTTP/1.1" 200 1',
        dict(host="shop.example.com", ip="192.0.2.45", userid="bob", path="/"),
    ),
    (
        "common_vhost",
        'www.example.com:8443 192.0.2.45 - - [10/Feb/2024:16:46:30 +0000] "GET /x HTTP/1.1" 200 1',
        dict(host="www.example.com", time=utc(2024, 2, 10, 16, 46, 30)),
    ),
    (
        "ncsa_extended",
        f'203.0.113.7 - - [10/Feb/2024:16:42:07 -0500] "GET / HTTP/1.1" 200 5120 "-" "{UA}"',
        dict(referrer="", user_agent=UA, host=None),
    ),
    (
        "ncsa_extended",
        '203.0.113.7 - - [10/Feb/2024:16:42:07 -0500] "GET / HTTP/1.1" 200 5 '
        '"https://r.example/?q=\\"x\\"" "Agent \\"quoted\\" 1.0" 0.004 extra',
        dict(referrer='https://r.example/?q=\\"x\\"', user_agent='Agent \\"quoted\\" 1.0'),
    ),
    (
        "common_complete",
        f'www.example.com 203.0.113.7 - - [10/Feb/2024:16:42:07 -0500] "GET /p?q=1 HTTP/1.1" 200 '
        f'5120 "https://www.example.org/" "{UA}"',
        dict(
            host="www.example.com",
            ip="203.0.113.7",
            path="/p",
            query="q=1",
            referrer="https://www.example.org/",
            user_agent=UA,
            status=200,
            size=5120,
        ),
    ),
]


@pytest.mark.parametrize(("fmt", "line", "expected"), CASES)
def test_line_to_record(fmt: str, line: str, expected: dict[str, Any]) -> None:
    hit = parse(fmt, line)
    assert isinstance(hit, Hit), hit
    for key, value in expected.items():
        assert getattr(hit, key) == value, key
    assert hit.time.tzinfo is not None


@pytest.mark.parametrize(
    ("fmt", "line", "reason"),
    [
        ("common", "garbage", NO_MATCH),
        ("common", "", EMPTY),
        ("common", "   ", EMPTY),
        ("common", '1.2.3.4 - - [31/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1', BAD_DATE),
        ("common", '1.2.3.4 - - [10/Foo/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1', BAD_DATE),
        ("common", '1.2.3.4 - - [10/Feb/2024:10:00:00 +0000] "-" 400 1', NO_MATCH),
    ],
)
def test_invalid_lines_give_their_reason(fmt: str, line: str, reason: str) -> None:
    assert parse(fmt, line) == reason


def test_log_hostname_overrides_the_host() -> None:
    line = 'www.example.com 1.2.3.4 - - [10/Feb/2024:16:42:07 -0500] "GET / HTTP/1.1" 200 1'
    hit = parse("common_vhost", line, log_hostname="forced.example")
    assert isinstance(hit, Hit) and hit.host == "forced.example"


# --- the samples ------------------------------------------------------------------------------------------

SAMPLE_FORMATS = {p.stem: p.stem for p in sorted(SAMPLES.glob("*.log"))}
BROKEN_LINE = 18  # every sample has one line that no format matches, at the same place


def sample_lines(fmt: str) -> list[str]:
    return (SAMPLES / f"{fmt}.log").read_text(encoding="utf-8").splitlines()


def concrete(fmt: str, lines: list[str]) -> FormatDef:
    """The format that reads these lines: a W3C template is built from their #Fields: header."""
    definition = get_format(fmt)
    return detect(lines, path=fmt) if definition.kind == "w3c" else definition


def data_lines(lines: list[str]) -> list[str]:
    """The lines that are not headers (W3C ``#`` lines, a CSV log's column names)."""
    return [line for line in lines if not line.startswith(("#", '"time_micros"'))]


def test_every_bundled_format_has_a_sample_log() -> None:
    assert set(SAMPLE_FORMATS) == set(builtin_formats())


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_every_sample_is_detected_and_every_line_parses(fmt: str) -> None:
    lines = sample_lines(fmt)
    if get_format(fmt).detect:
        assert detect(lines, path=fmt).name == fmt
    parser = LineParser(concrete(fmt, lines), TrackingOptions())
    for number, line in enumerate(data_lines(lines), 1):
        result = parser.parse(line)
        if number == BROKEN_LINE:
            assert result == NO_MATCH
        else:
            assert isinstance(result, Hit), f"{fmt}:{number}: {result}"


@pytest.mark.parametrize("fmt", [f for f in SAMPLE_FORMATS if get_format(f).detect])
def test_detection_on_shuffled_subsets(fmt: str) -> None:
    lines = sample_lines(fmt)
    header = [line for line in lines if line.startswith("#")]
    data = data_lines(lines)
    rng = random.Random(fmt)
    for _ in range(20):
        subset = rng.sample(data, rng.randint(1, len(data)))
        if all(line == data[BROKEN_LINE - 1] for line in subset):
            continue
        assert detect(header + subset, path=fmt).name == fmt


#: Samples written behind a proxy: the options that read the visitor's address from them.
SAMPLE_TRACKING: dict[str, dict[str, Any]] = {"nginx_main": {"client_ip_group": "x_forwarded_for"}}


def _requests(fmt: str) -> list[tuple[object, ...] | None]:
    lines = sample_lines(fmt)
    parser = LineParser(concrete(fmt, lines), TrackingOptions(**SAMPLE_TRACKING.get(fmt, {})))
    out: list[tuple[object, ...] | None] = []
    for line in data_lines(lines):
        hit = parser.parse(line)
        out.append(
            (hit.time.replace(microsecond=0), hit.ip, hit.path, hit.query, hit.status) if isinstance(hit, Hit) else None
        )
    return out


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_every_format_reads_back_the_same_requests(fmt: str) -> None:
    """The samples are views of the same traffic: time, client, path, query and status agree line by line."""
    assert _requests(fmt) == _requests("common_complete")


def test_nothing_matches_lists_what_was_tried() -> None:
    with pytest.raises(FormatError) as info:
        detect(["just words", "more words"], path="x.log")
    message = str(info.value)
    assert message.startswith("x.log: no known format matches the first lines (tried: common, common_vhost, ")
    assert "Name the format with --log-format-name or give --log-format-regex." in message


def test_unknown_format_name() -> None:
    with pytest.raises(FormatError, match=r"unknown log format 'apache2'\. Known formats: common, "):
        get_format("apache2")


def test_nginx_main_reads_the_visitor_from_x_forwarded_for_when_asked() -> None:
    """nginx's packaged "main" format behind a load balancer: detected over combined for its extra quoted field;
    its remote address is the proxy's, and --client-ip-from x-forwarded-for gives each visitor's."""
    lines = sample_lines("nginx_main")
    assert detect(lines, path="access.log").name == "nginx_main"
    assert detect(sample_lines("ncsa_extended"), path="access.log").name == "ncsa_extended"
    plain = _ips(LineParser(get_format("nginx_main"), TrackingOptions()), lines)
    behind = _ips(LineParser(get_format("nginx_main"), TrackingOptions(client_ip_group="x_forwarded_for")), lines)
    assert plain == {"10.0.0.1", "10.0.0.2", "66.249.66.1", "203.0.113.99"}
    assert behind == _ips(LineParser(get_format("common_complete"), TrackingOptions()), sample_lines("common_complete"))
    assert len(behind) == 7


def _ips(parser: LineParser, lines: list[str]) -> set[str | None]:
    return {hit.ip for hit in map(parser.parse, lines) if isinstance(hit, Hit)}


NGINX_MAIN = '10.0.0.2 - - [10/Feb/2024:16:42:07 -0500] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" "{}"'


@pytest.mark.parametrize(
    ("xff", "ip"),
    [
        ("-", "10.0.0.2"),
        ("", "10.0.0.2"),
        ("203.0.113.7", "203.0.113.7"),
        ("1.2.3.4, 10.0.0.1", "1.2.3.4"),
        ("1.2.3.4, 198.51.100.23", "198.51.100.23"),  # the left one came from the client: not to be trusted
        ("2001:db8::1f, 10.0.0.1", "2001:db8::1f"),
        ("unknown", "10.0.0.2"),
    ],
)
def test_nginx_main_x_forwarded_for(xff: str, ip: str) -> None:
    line = NGINX_MAIN.format(xff)
    for fast_path in (True, False):
        parser = LineParser(
            get_format("nginx_main"), TrackingOptions(client_ip_group="x_forwarded_for"), fast_path=fast_path
        )
        hit = parser.parse(line)
        assert isinstance(hit, Hit) and hit.ip == ip and hit.user_agent == "curl/8.5.0"


def test_aliases() -> None:
    assert get_format("combined").name == "ncsa_extended"
    assert get_format("main").name == "nginx_main"
    assert get_format("vhost_combined").name == "common_complete"


def test_every_bundled_definition_has_a_sample_that_it_reads() -> None:
    for fmt in builtin_formats().values():
        assert fmt.description and fmt.sample
        lines = fmt.sample.split("\n")
        reader = detect(lines, path="sample") if fmt.kind == "w3c" else fmt
        assert isinstance(LineParser(reader, TrackingOptions()).parse(lines[-1]), Hit), fmt.name
        if fmt.detect:
            assert detect(lines, path="sample").name == fmt.name


def test_user_regex_with_date_format() -> None:
    fmt = user_regex_format(
        r"(?P<ip>\S+) \[(?P<date>[^\]]+)\] (?P<tz>\S+) (?P<path>\S+) (?P<status>\d+)", "%Y-%m-%d %H:%M:%S"
    )
    hit = LineParser(fmt, TrackingOptions()).parse("1.2.3.4 [2024-02-10 16:42:07] x /a?b=1 200")
    assert isinstance(hit, Hit)
    assert (hit.time, hit.path, hit.query) == (utc(2024, 2, 10, 16, 42, 7), "/a", "b=1")


def test_user_regex_with_a_timezone_group() -> None:
    fmt = user_regex_format(r"(?P<date>\S+ \S+) (?P<timezone>\S+) (?P<path>\S+)", "%Y-%m-%d %H:%M:%S")
    hit = LineParser(fmt, TrackingOptions()).parse("2024-02-10 16:42:07 +0200 /a")
    assert isinstance(hit, Hit) and hit.time == utc(2024, 2, 10, 14, 42, 7)


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("(?P<date>", "the regex does not compile"),
        (r"(?P<path>\S+)", "the regex has no named group 'date'"),
    ],
)
def test_bad_user_regex(regex: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        user_regex_format(regex, None)


def test_user_format_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "layout": '{ip} <{clf_date}> {status} "{request}" {custom}',
                "fields": {"custom": r"(?P<custom>\w+)"},
            }
        )
    )
    fmt = load_format_file(str(path))
    hit = LineParser(fmt, TrackingOptions()).parse('1.2.3.4 <10/Feb/2024:16:42:07 +0000> 200 "GET /x HTTP/1.1" z')
    assert isinstance(hit, Hit) and hit.path == "/x"


def test_user_format_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="cannot read the format file"):
        load_format_file(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_format_file(str(bad))
    bad.write_text(json.dumps({"name": "x", "layout": "{nonesuch}"}))
    with pytest.raises(FormatError, match=r"unknown field \{nonesuch\}"):
        load_format_file(str(bad))


SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"
)
# The 4th request of every sample (alice views a product list from a search page), field by field, where the format
# writes that field: (format, host, user agent, referrer, userid, generation time in ms).
FOURTH_REQUEST = [
    ("common", None, "", "", "alice", None),
    ("common_vhost", "www.example.com", "", "", "alice", None),
    ("ncsa_extended", None, SAFARI, "https://www.search.example/?q=books", "alice", None),
    ("common_complete", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", None),
    ("nginx_main", None, SAFARI, "https://www.search.example/?q=books", "alice", None),
    (
        "s3",
        "www.example.com",
        SAFARI,
        "https://www.search.example/?q=books",
        "arn:aws:iam::123456789012:user/alice",
        151,
    ),
    ("icecast2", None, SAFARI, "https://www.search.example/?q=books", "alice", None),
    ("elb", "www.example.com", SAFARI, "", None, 151),
    ("ovh", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", None),
    ("haproxy", None, "", "", None, 151),
    ("gandi", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", 1000),
    ("nginx_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", 151),
    ("traefik_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", 151),
    ("caddy_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", 151),
    ("cloudflare_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, None),
    ("gcp_lb_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, None),
    ("azure_frontdoor_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, 151),
    ("azure_appgw_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, 151),
    ("akamai_ds2_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, 151),
    ("bunny", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, None),
    ("gcs_usage", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, 151),
    ("cloudfront_json", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, 151),
    ("w3c_extended", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", 151),
    ("iis", "www.example.com", SAFARI, "https://www.search.example/?q=books", "alice", 151),
    ("amazon_cloudfront", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, 151),
    ("shoutcast", None, SAFARI, "", None, 844000),
    ("incapsula_w3c", "www.example.com", SAFARI, "https://www.search.example/?q=books", None, None),
]


@pytest.mark.parametrize(("fmt", "host", "ua", "referrer", "userid", "gt"), FOURTH_REQUEST)
def test_expected_record_of_every_format(
    fmt: str, host: str | None, ua: str, referrer: str, userid: str | None, gt: int | None
) -> None:
    lines = sample_lines(fmt)
    hit = LineParser(concrete(fmt, lines), TrackingOptions(**SAMPLE_TRACKING.get(fmt, {}))).parse(data_lines(lines)[3])
    assert isinstance(hit, Hit)
    assert (hit.time.replace(microsecond=0), hit.ip, hit.path, hit.query, hit.status) == (
        utc(2024, 2, 10, 21, 43, 15),
        "198.51.100.23",
        "/products/index.html",
        "category=books&sort=price",
        200,
    )
    assert (hit.host, hit.user_agent, hit.referrer, hit.userid, hit.generation_time_ms) == (
        host,
        ua,
        referrer,
        userid,
        gt,
    )


def test_cloudfront_rtmp_lines() -> None:
    lines = [
        "#Version: 1.0",
        "#Fields: date time x-edge-location c-ip x-event sc-bytes x-cf-status x-cf-client-id cs-uri-stem cs-uri-query "
        "c-referrer x-page-url c-user-agent x-sname x-sname-query x-file-ext x-sid",
        "2024-02-10 21:42:07 AMS1 198.51.100.7 play 3914 OK bfd8a98bee0840d9b871b7f6ade9908f "
        "rtmp://s5c39gqb8ow64r.cloudfront.net/cfx/st key=value http://player.example.com/player.swf "
        "http://www.example.com/video.html LNX%252010,0,32,18 myvideo p=2&q=4 flv 1",
    ]
    fmt = detect(lines, path="rtmp.log")
    assert fmt.name == "amazon_cloudfront"
    hit = LineParser(fmt, TrackingOptions()).parse(lines[-1])
    assert isinstance(hit, Hit)
    assert (hit.path, hit.query, hit.status, hit.user_agent) == (
        "/s5c39gqb8ow64r.cloudfront.net/cfx/st",
        "key=value",
        200,
        "LNX 10,0,32,18",
    )


def test_no_json_format_can_be_taken_for_another() -> None:
    """Each JSON format is detected by keys that no line of another JSON format's sample has all of."""
    from import_logs.parsing.formats import dig, json_object

    formats = {name: f for name, f in builtin_formats().items() if f.kind == "json"}
    for name, fmt in formats.items():
        assert fmt.detect_keys, name
        for other in formats:
            if other == name:
                continue
            for line in data_lines(sample_lines(other)):
                obj = json_object(line)
                if obj is not None:
                    assert not all(dig(obj, key) is not None for key in fmt.detect_keys), (name, other, line)


def test_a_csv_header_is_a_header_not_an_invalid_line() -> None:
    lines = sample_lines("gcs_usage")
    parser = LineParser(get_format("gcs_usage"), TrackingOptions())
    assert parser.parse(lines[0]) == "header"


@settings(max_examples=500, deadline=None)
@given(
    obj=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=10,
        ),
        max_size=6,
    ),
    ascii_only=st.booleans(),
)
def test_a_json_line_reads_as_the_standard_library_reads_it(obj: dict[str, Any], ascii_only: bool) -> None:
    import json

    from import_logs.parsing.formats import json_object

    line = json.dumps(obj, ensure_ascii=ascii_only)
    assert json_object(line) == json.loads(line)
