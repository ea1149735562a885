"""Privacy and the new filters (#14 items 2-4): what reaches the fake tracker, and what --save-requests writes.

The log is written here: an nginx-style line with the X-Forwarded-For header logged in its last field, so that
--client-ip-from has something to read.
"""

from __future__ import annotations

import ast
import ipaddress
import json
from pathlib import Path

import pytest
from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro

from import_logs import privacy as privacy_module
from import_logs.addresses import ClientAddress, address
from import_logs.config import PrivacyOptions, TrackingOptions
from import_logs.filters import statuses
from import_logs.parsing.hit import Hit, LineParser
from import_logs.privacy import Privacy, masked

REGEX = (
    r'(?P<ip>\S+) \S+ (?P<userid>\S+) \[(?P<date>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) \S+" (?P<status>\d+) '
    r'(?P<length>\d+) "(?P<referrer>[^"]*)" "(?P<user_agent>[^"]*)" "(?P<x_forwarded_for>[^"]*)"'
)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
LINES = [
    # the load balancer (10.0.0.5) connects; the visitor is 203.0.113.7
    (
        "10.0.0.5",
        "alice",
        "GET",
        "/?token=s3cr3t&page=2",
        200,
        "https://a.example/?email=x%40y.example&q=1",
        "203.0.113.7",
    ),
    # two proxies: 198.51.100.9 is not trusted, so it is the visitor (a spoofed left entry is ignored)
    ("10.0.0.5", "-", "GET", "/about", 200, "", "192.0.2.66, 198.51.100.9, 10.0.0.7"),
    # an excluded range
    ("10.0.0.5", "bob", "GET", "/private", 200, "", "192.0.2.200"),
    # IPv6, no header
    ("2001:db8:abcd:12:3456:789a:bcde:f012", "carol", "POST", "/form", 200, "", "-"),
    # a 301 and a HEAD: filtered by status and by method
    ("10.0.0.5", "-", "GET", "/old", 301, "", "203.0.113.8"),
    ("10.0.0.5", "-", "HEAD", "/", 200, "", "203.0.113.8"),
    # an internal health check, excluded by a field regex
    ("10.0.0.5", "-", "GET", "/healthz", 200, "", "203.0.113.8"),
]


def write_log(path: Path) -> Path:
    with path.open("w") as f:
        for n, (ip, user, method, target, status, referrer, xff) in enumerate(LINES):
            f.write(
                f'{ip} - {user} [10/Feb/2024:16:42:{n:02d} +0000] "{method} {target} HTTP/1.1" {status} 100 '
                f'"{referrer or "-"}" "{UA}" "{xff}"\n'
            )
    return path


PRIVATE = [
    f"--log-format-regex={REGEX}",
    "--log-date-format=%d/%b/%Y:%H:%M:%S %z",
    "--client-ip-from=x-forwarded-for",
    "--exclude-ip=192.0.2.128/25",
    "--anonymize-ip=1",
    "--hash-user-id",
    "--strip-query-param=token,email",
    "--exclude-status=3xx",
    "--exclude-method=head",
    "--exclude-field=path=^/healthz$",
    "--tracking-param=rmip=1",
    "--summary-json=-",
]
ENV = {**SECRET_ENV, "IMPORT_LOGS_HASH_SALT": "pepper"}


def _check_private(requests: list[dict[str, str]]) -> None:
    assert [r["cip"] for r in requests] == ["203.0.113.0", "198.51.100.0", "2001:db8:abcd:12::"]
    for r in requests:
        text = json.dumps(r)
        assert "s3cr3t" not in text and "x%40y" not in text and "x@y" not in text
        assert "alice" not in text and "carol" not in text and "192.0.2.200" not in text
        assert r["rmip"] == "1"
    assert requests[0]["url"].endswith("/?page=2")
    assert requests[0]["urlref"] == "https://a.example/?q=1"
    assert len(requests[0]["uid"]) == 32 and "uid" not in requests[1]


def test_nothing_private_reaches_the_tracker(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    result = run_cli(*piwik_args(fake, *PRIVATE), str(log), cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    _check_private(fake.hits)
    summary = json.loads(result.stdout)
    assert summary["skipped"]["excluded_ip"] == 1
    assert summary["skipped"]["status_filter"] == 1
    assert summary["skipped"]["excluded_method"] == 1
    assert summary["skipped"]["excluded_field"] == 1
    # the same user, hashed with the same salt, is the same id on the next run
    again = run_cli(*piwik_args(fake, *PRIVATE, "--no-state"), str(log), cwd=tmp_path, env=ENV)
    assert again.returncode == 0, again.stderr
    assert fake.hits[3]["uid"] == fake.hits[0]["uid"]


def test_nothing_private_is_saved(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    saved = tmp_path / "requests.jsonl"
    result = run_cli(
        f"--save-requests={saved}", "--idsite=7", "--no-progress", *PRIVATE, str(log), cwd=tmp_path, env=ENV
    )
    assert result.returncode == 0, result.stderr
    _check_private([json.loads(line) for line in saved.read_text().splitlines()])


def test_the_matomo_encoder_gets_the_same_treatment(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    saved = tmp_path / "requests.jsonl"
    result = run_cli(
        f"--save-requests={saved}",
        "--backend=matomo",
        "--idsite=7",
        "--no-progress",
        *PRIVATE,
        str(log),
        cwd=tmp_path,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    text = saved.read_text()
    assert "203.0.113.0" in text and "&rmip=1" in text
    for secret in ("s3cr3t", "x%2540y", "alice", "carol", "192.0.2.200", "203.0.113.7"):
        assert secret not in text


def test_several_addresses_in_the_client_field_are_read_not_rejected(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        'www.example.com 203.0.113.9, 10.0.0.2 - - [10/Feb/2024:16:42:07 +0000] "GET / HTTP/1.1" 200 5 "-" "x"\n'
    )
    saved = tmp_path / "requests.jsonl"
    result = run_cli(f"--save-requests={saved}", "--idsite=7", "--no-progress", str(log), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(saved.read_text())["cip"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("field", "visitor"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, 10.0.0.2", "203.0.113.9"),
        ("192.0.2.1, 198.51.100.9, 10.0.0.7, 127.0.0.1", "198.51.100.9"),
        ("10.0.0.1, 10.0.0.2", "10.0.0.1"),
        ("203.0.113.9:5678, 10.0.0.2", "203.0.113.9"),
        ("[2001:db8::1]:443,fd00::1", "2001:db8::1"),
        ("unknown, 10.0.0.2", "10.0.0.2"),
        ("nothing, here", None),
    ],
)
def test_the_visitor_is_the_last_untrusted_address(field: str, visitor: str | None) -> None:
    assert ClientAddress()(field) == visitor


def test_trusted_proxies_can_be_given() -> None:
    assert ClientAddress(("198.51.100.0/24", "10.0.0.0/8"))("192.0.2.1, 198.51.100.9, 10.0.0.7") == "192.0.2.1"


@pytest.mark.parametrize(
    ("ip", "level", "expected"),
    [
        ("203.0.113.77", 1, "203.0.113.0"),
        ("203.0.113.77", 2, "203.0.0.0"),
        ("203.0.113.77", 3, "203.0.0.0"),
        ("203.0.113.77", 4, "0.0.0.0"),
        ("2001:db8:abcd:12:3456:789a:bcde:f012", 1, "2001:db8:abcd:12::"),
        ("2001:db8:abcd:12:3456:789a:bcde:f012", 2, "2001:db8:abcd::"),
        ("2001:db8:abcd:12:3456:789a:bcde:f012", 3, "2001:d00::"),
        ("2001:db8:abcd:12:3456:789a:bcde:f012", 4, "::"),
    ],
)
def test_masking_levels(ip: str, level: int, expected: str) -> None:
    assert str(masked(ipaddress.ip_address(ip), level)) == expected


def test_address_forms() -> None:
    assert str(address("1.2.3.4:80")) == "1.2.3.4"
    assert str(address("[2001:db8::1]:443")) == "2001:db8::1"
    assert str(address(" 2001:db8::1 ")) == "2001:db8::1"
    assert address("www.example.com") is None


def hit(**fields: object) -> Hit:
    from datetime import datetime, timezone

    base: dict[str, object] = {
        "time": datetime(2024, 2, 10, tzinfo=timezone.utc),
        "ip": "203.0.113.7",
        "host": "www.example.com",
        "method": "GET",
        "path": "/",
        "query": "",
        "status": 200,
        "size": 0,
        "referrer": "",
        "user_agent": UA,
        "userid": None,
        "generation_time_ms": None,
    }
    return Hit(**{**base, **fields})  # type: ignore[arg-type]


def test_a_hit_with_nothing_to_change_is_the_same_object() -> None:
    privacy = Privacy(PrivacyOptions(exclude_ips=("192.0.2.0/24",)))
    original = hit()
    assert privacy(original) is original
    assert privacy(hit(ip="192.0.2.9")) is None
    assert privacy(hit(ip="2001:db8::1")) is not None


def test_the_hit_is_read_and_written_by_name_and_every_other_field_kept() -> None:
    """A field added to Hit must not shift what privacy reads or writes: no ``hit[<number>]`` in it (#27)."""
    source = Path(privacy_module.__file__).read_text()
    positional = [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "hit"
        and not (isinstance(node.slice, ast.Name) and node.slice.id.isupper())
    ]
    assert positional == []
    privacy = Privacy(PrivacyOptions(anonymize_ip=1, user_id="drop", strip_query_params=("t",)))
    original = hit(ip="203.0.113.7", userid="bob", query="t=1&a=2", page_cvars=(("n", "v"),), dimensions=(("1", "d"),))
    out = privacy(original)
    assert out is not None
    assert (out.ip, out.userid, out.query) == ("203.0.113.0", None, "a=2")
    changed = {"ip", "userid", "query"}
    assert {f: getattr(out, f) for f in Hit._fields if f not in changed} == {
        f: getattr(original, f) for f in Hit._fields if f not in changed
    }


def test_query_parameters_are_removed_and_the_rest_kept_as_written() -> None:
    privacy = Privacy(PrivacyOptions(strip_query_params=("token", "e mail")))
    out = privacy(hit(query="a=1%202&token=x&e+mail=y&b", referrer="https://r.example/p?token=z"))
    assert out is not None
    assert (out.query, out.referrer) == ("a=1%202&b", "https://r.example/p")


def test_an_address_that_cannot_be_read_is_not_sent_when_masking() -> None:
    out = Privacy(PrivacyOptions(anonymize_ip=2))(hit(ip="unknown"))
    assert out is not None and out.ip is None


def test_status_codes_and_classes() -> None:
    assert statuses(("301", "4xx")) == frozenset({301, *range(400, 500)})
    with pytest.raises(ValueError, match="'30x' is not a status code"):
        statuses(("30x",))


def test_drop_user_id_and_excluded_addresses_from_a_file(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    excluded = tmp_path / "excluded.txt"
    excluded.write_text("192.0.2.128/25\n2001:db8:abcd::/48\n")
    options = [
        f"--log-format-regex={REGEX}",
        "--log-date-format=%d/%b/%Y:%H:%M:%S %z",
        "--client-ip-from=x-forwarded-for",
        f"--exclude-ip-from={excluded}",
        "--drop-user-id",
        "--anonymize-ip=2",
        "--trusted-proxies=10.0.0.0/8",
        "--summary-json=-",
    ]
    result = run_cli(*piwik_args(fake, *options), str(log), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    text = json.dumps(fake.hits)
    assert all("uid" not in h for h in fake.hits)
    assert "alice" not in text and "2001:db8" not in text and "192.0.2.200" not in text
    # 192.0.2.66, 198.51.100.9, 10.0.0.7: only 10.0.0.0/8 is trusted now, so the visitor is 198.51.100.9
    assert [h["cip"] for h in fake.hits][:2] == ["203.0.0.0", "198.51.0.0"]
    assert json.loads(result.stdout)["skipped"]["excluded_ip"] == 2


def test_cloudflare_times_in_every_unit_it_can_be_set_to() -> None:
    from import_logs.parsing.formats import get_format

    parser = LineParser(get_format("cloudflare_json"), TrackingOptions())
    for stamp in ('"2024-02-10T21:42:07Z"', "1707601327", "1707601327000000000"):
        line = (
            '{"ClientIP": "198.51.100.7", "ClientRequestHost": "www.example.com", "ClientRequestURI": "/", '
            f'"EdgeResponseStatus": 200, "EdgeStartTimestamp": {stamp}}}'
        )
        hit = parser.parse(line)
        assert isinstance(hit, Hit) and hit.time.isoformat() == "2024-02-10T21:42:07+00:00", stamp


def test_in_process_the_same_privacy_with_one_worker(tmp_path: Path) -> None:
    """The CLI in this process (--workers 1: no worker processes), so that the stages are measured by coverage."""
    from click.testing import CliRunner

    from import_logs.cli import main

    log = write_log(tmp_path / "access.log")
    saved = tmp_path / "requests.jsonl"
    options = [o for o in PRIVATE if o != "--summary-json=-"]
    result = CliRunner().invoke(
        main,
        ["--workers=1", "--no-progress", "--no-state", f"--save-requests={saved}", "--idsite=7", *options, str(log)],
        env=ENV,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    _check_private([json.loads(line) for line in saved.read_text().splitlines()])
