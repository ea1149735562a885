"""The real CLI, with its real worker processes, against the fake Piwik PRO on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAMPLES, SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro, Fault

LOG = str(SAMPLES / "common_complete.log")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)

# What the reference Piwik PRO importer sends for sample_logs/common_complete.log (reference §4-§6): url,
# urlref (absent when empty), cip, cdt (UTC), ua, download, action_name. Worked out by hand from its rules.
EXPECTED = [
    ("https://www.example.com/", None, "203.0.113.7", "2024-02-10 21:42:07", FIREFOX, None),
    (
        "https://www.example.com/products/index.html?category=books&sort=price",
        "https://www.search.example/?q=books",
        "198.51.100.23",
        "2024-02-10 21:43:15",
        SAFARI,
        None,
    ),
    (
        "https://www.example.com/downloads/catalogue-2024.pdf",
        "https://www.example.com/products/index.html?category=books&sort=price",
        "198.51.100.23",
        "2024-02-10 21:43:40",
        SAFARI,
        "download",
    ),
    (
        "https://shop.example.com/login?next=/cart",
        "https://shop.example.com/item/42",
        "192.0.2.45",
        "2024-02-10 21:45:12",
        CHROME,
        None,
    ),
    (
        "https://shop.example.com/item/%C3%A9t%C3%A9-2024",
        None,
        "2001:db8::1f",
        "2024-02-10 21:47:05",
        IPHONE,
        None,
    ),
    (
        "https://shop.example.com/suche/grüße",
        "https://shop.example.com/item/%C3%A9t%C3%A9-2024",
        "2001:db8::1f",
        "2024-02-10 21:47:09",
        IPHONE,
        None,
    ),
    ("https://www.example.com/new-page", None, "203.0.113.99", "2024-02-10 21:48:01", FIREFOX, None),
    (
        "https://www.example.com/files/setup.exe",
        "https://www.example.com/new-page",
        "203.0.113.99",
        "2024-02-10 21:49:02",
        FIREFOX,
        "download",
    ),
    (
        "https://www.example.com/blog/2024/02/hello-world",
        "https://social.example.net/post/9",
        "203.0.113.7",
        "2024-02-10 21:51:44",
        FIREFOX,
        None,
    ),
]
# With --enable-http-errors --enable-http-redirects, four more, titled (the reference forgets redirects).
ERRORS_AND_REDIRECTS = [
    (
        "https://shop.example.com/cart",
        "https://shop.example.com/item/42",
        "192.0.2.45",
        "2024-02-10 21:45:11",
        CHROME,
        "302/URL = https%3A%2F%2Fshop.example.com%2Fcart/From = https%3A%2F%2Fshop.example.com%2Fitem%2F42",
    ),
    (
        "https://shop.example.com/checkout",
        "https://shop.example.com/cart",
        "192.0.2.45",
        "2024-02-10 21:46:30",
        CHROME,
        "500/URL = https%3A%2F%2Fshop.example.com%2Fcheckout/From = https%3A%2F%2Fshop.example.com%2Fcart",
    ),
    (
        "https://www.example.com/old-page",
        None,
        "203.0.113.99",
        "2024-02-10 21:48:00",
        FIREFOX,
        "301/URL = https%3A%2F%2Fwww.example.com%2Fold-page",
    ),
    (
        "https://www.example.com/missing",
        "https://www.example.com/new-page",
        "203.0.113.99",
        "2024-02-10 21:48:30",
        FIREFOX,
        "404/URL = https%3A%2F%2Fwww.example.com%2Fmissing/From = https%3A%2F%2Fwww.example.com%2Fnew-page",
    ),
]


def _view(hit: dict[str, str]) -> tuple[object, ...]:
    extra = "download" if hit.get("download") == hit["url"] else hit.get("action_name")
    return (hit["url"], hit.get("urlref"), hit.get("cip"), hit["cdt"], hit["ua"], extra)


def _per_visitor(hits: list[dict[str, str]]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for hit in hits:
        order.setdefault(hit["cip"], []).append(hit["cdt"])
    return order


def test_import_sends_what_the_reference_sends_with_the_bearer_token(fake: FakePiwikPro, tmp_path: Path) -> None:
    result = run_cli(*piwik_args(fake, "--recorders=2", "--workers=2"), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert sorted(map(_view, fake.hits), key=str) == sorted(EXPECTED, key=str)
    # Every tracking request carries the token, so Piwik PRO keeps the backdated hits.
    assert fake.dropped == []
    assert all(r.headers["authorization"].startswith("Bearer token-") for r in fake.tracking_requests())
    for hit in fake.hits:
        assert hit["idsite"] == "app-uuid-1"
        assert (hit["rec"], hit["apiv"], hit["queuedtracking"], hit["dp"]) == ("1", "1", "0", "1")
        assert hit["ts_n"] == "import-logs"
        assert json.loads(hit["cvar"])["1"][0] == "HTTP-code"
    # Each visitor's hits arrive in the order of the log.
    for times in _per_visitor(fake.hits).values():
        assert times == sorted(times)
    assert "9 requests imported successfully" in result.stdout
    assert "client-secret" not in result.stdout + result.stderr


def test_errors_and_redirects_get_titles(fake: FakePiwikPro, tmp_path: Path) -> None:
    args = piwik_args(fake, "--enable-http-errors", "--enable-http-redirects", "--workers=1")
    result = run_cli(*args, LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert sorted(map(_view, fake.hits), key=str) == sorted(EXPECTED + ERRORS_AND_REDIRECTS, key=str)


def _all_kinds(server: FakePiwikPro, *extra: str) -> list[str]:
    return piwik_args(
        server,
        "--enable-static",
        "--enable-bots",
        "--enable-http-errors",
        "--enable-http-redirects",
        "--recorder-max-payload-size=1",
        *extra,
    )


def _exactly_once(fake: FakePiwikPro, expected: int = 19) -> None:
    keys = Counter((h["cip"], h["cdt"], h["url"]) for h in fake.hits)
    assert len(keys) == expected
    assert set(keys.values()) == {1}, [k for k, n in keys.items() if n > 1]


def test_token_renewed_before_it_expires(tmp_path: Path) -> None:
    """Independent of the machine's speed: the first request is held past the renewal point of the announced
    2 s (90%), so every later one must come with a new token, fetched before the old one was refused (the
    fake honours tokens for longer than it announces, so a late renewal would show as the old token)."""
    with FakePiwikPro(token_ttl=2.0, real_ttl=60.0) as fake:
        fake.fail_next("track", Fault(delay=2.2))
        result = run_cli(*_all_kinds(fake, "--recorders=1"), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    _exactly_once(fake)
    tokens = [r.headers["authorization"] for r in fake.tracking_requests()]
    assert tokens[0] == "Bearer token-1" and "Bearer token-1" not in tokens[1:]
    assert 401 not in fake.track_statuses


def test_token_that_expires_early_is_renewed_on_401_and_the_batch_resent(tmp_path: Path) -> None:
    with FakePiwikPro(real_ttl=0.2, track_delay=0.05) as fake:
        result = run_cli(*_all_kinds(fake, "--recorders=3"), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert 401 in fake.track_statuses
    _exactly_once(fake)


def test_server_failing_twice_then_answering_loses_and_duplicates_nothing(fake: FakePiwikPro, tmp_path: Path) -> None:
    fake.fail_next("track", Fault(status=503), Fault(drop=True))
    result = run_cli(*_all_kinds(fake), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    _exactly_once(fake)
    assert "HTTP 503; attempt 2 of 3" in result.stderr
    assert "Server disconnected without sending a response.); attempt 3 of 3" in result.stderr


def test_429_waits_as_long_as_retry_after_says(fake: FakePiwikPro, tmp_path: Path) -> None:
    fake.fail_next("track", Fault(status=429, headers={"Retry-After": "1"}))
    result = run_cli(*_all_kinds(fake, "--retry-delay=0"), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    # The wait itself is the retrier's (tests/test_http.py records every sleep it asks for).
    assert "HTTP 429 Too Many Requests; attempt 2 of 3 in 1.0 s" in result.stderr
    _exactly_once(fake)


def test_slow_answer_times_out_and_is_retried(fake: FakePiwikPro, tmp_path: Path) -> None:
    fake.fail_next("track", Fault(delay=1.5, status=503))
    result = run_cli(*_all_kinds(fake, "--request-timeout=0.5"), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert "no answer within 0.5 s" in result.stderr
    _exactly_once(fake)


def test_server_that_never_answers_ends_within_the_retry_budget(fake: FakePiwikPro, tmp_path: Path) -> None:
    fake.fail_next("track", *[Fault(drop=True)] * 50)
    # A hang would raise TimeoutExpired: a bound against hangs, not a timing.
    result = run_cli(*piwik_args(fake, "--retry-max-attempts=3"), LOG, cwd=tmp_path, env=SECRET_ENV, timeout=30)
    assert result.returncode == 5
    assert "failed after 3 attempt(s)" in result.stderr
    assert "Check that the server is up" in result.stderr
    assert "Logs import summary" in result.stdout


def test_unreachable_server_is_a_server_error(tmp_path: Path) -> None:
    with FakePiwikPro() as fake:
        url = fake.url
    result = run_cli(
        f"--url={url}",
        "--client-id=client-id",
        "--idsite=app-uuid-1",
        "--retry-delay=0.01",
        "--retry-max-attempts=2",
        LOG,
        cwd=tmp_path,
        env=SECRET_ENV,
    )
    assert result.returncode == 5
    assert "connection failed" in result.stderr


def test_refused_credentials(fake: FakePiwikPro, tmp_path: Path) -> None:
    result = run_cli(*piwik_args(fake), LOG, cwd=tmp_path, env={"IMPORT_LOGS_CLIENT_SECRET": "wrong"})
    assert result.returncode == 4
    assert "refused the API credentials (HTTP 401" in result.stderr
    assert "Check --client-id and --client-secret" in result.stderr
    assert "wrong" not in result.stderr
    assert fake.hits == []


def test_unknown_app(fake: FakePiwikPro, tmp_path: Path) -> None:
    args = [a if not a.startswith("--idsite") else "--idsite=nope" for a in piwik_args(fake)]
    result = run_cli(*args, LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 4
    assert "there is no app nope: --idsite takes the App ID" in result.stderr


def test_forbidden_app(tmp_path: Path) -> None:
    with FakePiwikPro(forbidden_apps=("app-uuid-1",)) as fake:
        result = run_cli(*piwik_args(fake), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 4
    assert "have no access to app app-uuid-1" in result.stderr


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_stop_signal_ends_cleanly_with_a_summary(tmp_path: Path, signum: int, code: int, said: str) -> None:
    big = tmp_path / "big.log"
    line = (SAMPLES / "common_complete.log").read_text().splitlines()[0]
    big.write_text((line + "\n") * 3000)
    with FakePiwikPro(track_delay=0.2) as fake:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "import_logs",
                *piwik_args(fake, "--recorder-max-payload-size=1"),
                str(big),
            ],
            cwd=tmp_path,
            env={**__import__("os").environ, **SECRET_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not fake.hits and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)  # a bound against hangs
    assert proc.returncode == code, err
    assert f"stopped by {said}" in err
    assert "Logs import summary" in out


def test_token_refused_by_the_api_after_a_renewal(tmp_path: Path) -> None:
    with FakePiwikPro(real_ttl=0.0) as fake:
        result = run_cli(*piwik_args(fake), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 4
    assert "HTTP 401" in result.stderr and "the token was refused" in result.stderr
    assert fake.token_fetches == 2  # the first, and the one renewal after the 401


# (endpoint, fault, extra options, exit code, what the message says): each failure the server can answer with.
SERVER_ANSWERS = [
    (
        "track",
        Fault(status=400, body="invalid idsite"),
        ["--workers=1"],
        5,
        "the server rejected the batch starting at {log}:1 (HTTP 400: invalid idsite). Run again with -v",
    ),
    (
        "track",
        Fault(status=403, body="Access denied"),
        ["--workers=1"],
        4,
        "HTTP 403 (Access denied) for the batch starting at {log}:1. Check that the API credentials may track "
        "into app app-uuid-1.",
    ),
    ("track", Fault(status=413, body="Too Large"), [], 5, "(HTTP 413: Too Large). Lower --recorder-max-payload-size."),
    (
        "track",
        None,
        ["--tracker-endpoint-path=tracker.php"],
        5,
        "tracker.php: HTTP 404, there is no tracker there. Check --url and --tracker-endpoint-path",
    ),
    (
        "token",
        Fault(status=404, body="Not Found"),
        [],
        5,
        "/auth/token answered HTTP 404 (Not Found). Check that --url is the address of your Piwik PRO account.",
    ),
    (
        "token",
        Fault(status=200, body="<html>proxy login</html>"),
        [],
        5,
        "/auth/token did not answer with an access token. Check that --url is the address of your Piwik PRO",
    ),
    (
        "apps",
        Fault(status=302, headers={"Location": "/login"}),
        [],
        5,
        "/api/apps/v2/app-uuid-1 answered HTTP 302 (). Check --url.",
    ),
]


@pytest.mark.parametrize(("endpoint", "fault", "extra", "code", "message"), SERVER_ANSWERS)
def test_what_the_server_answers_is_named_with_its_fix(
    fake: FakePiwikPro, tmp_path: Path, endpoint: str, fault: Fault | None, extra: list[str], code: int, message: str
) -> None:
    if fault is not None:
        fake.fail_next(endpoint, fault)
    result = run_cli(*piwik_args(fake, *extra), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == code
    assert message.format(log=LOG) in result.stderr


CUSTOM_LOG = [
    "2024-02-10 16:42:07|198.51.100.7|GET|/shop/item?id=4|200|Mozilla/5.0 (X11; Linux x86_64)",
    "2024-02-10 16:42:09|198.51.100.8|GET|/shop/cart|200|Mozilla/5.0 (Windows NT 10.0)",
    "not a line of this log",
]


def test_a_user_regex_imports_a_custom_log(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "custom.log"
    log.write_text("\n".join(CUSTOM_LOG) + "\n")
    regex = r"(?P<date>[^|]+)\|(?P<ip>[^|]+)\|(?P<method>[^|]+)\|(?P<path>[^|]+)\|(?P<status>\d+)\|(?P<user_agent>.*)"
    result = run_cli(
        *piwik_args(
            fake,
            f"--log-format-regex={regex}",
            "--log-date-format=%Y-%m-%d %H:%M:%S",
            "--timezone=+0100",
            "--log-hostname=shop.example.com",
        ),
        str(log),
        cwd=tmp_path,
        env=SECRET_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert [(h["url"], h["cdt"], h["cip"]) for h in fake.hits] == [
        ("https://shop.example.com/shop/item?id=4", "2024-02-10 15:42:07", "198.51.100.7"),
        ("https://shop.example.com/shop/cart", "2024-02-10 15:42:09", "198.51.100.8"),
    ]
    assert "1 invalid log lines" in result.stdout


def test_a_user_format_file_imports_a_custom_log(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "custom.log"
    log.write_text("\n".join(CUSTOM_LOG) + "\n")
    definition = tmp_path / "pipes.json"
    definition.write_text(
        json.dumps(
            {
                "name": "pipes",
                "description": "date|ip|method|path|status|user agent",
                "layout": "{when}|{ip}|{verb}|{target}|{status}|{agent}",
                "fields": {
                    "when": r"(?P<date>[^|]+)",
                    "verb": r"(?P<method>[A-Z]+)",
                    "target": r"(?P<path>[^|]+)",
                    "agent": r"(?P<user_agent>.*)",
                },
                "date": "%Y-%m-%d %H:%M:%S",
            }
        )
    )
    result = run_cli(
        *piwik_args(fake, f"--log-format-name={definition}", "--log-hostname=shop.example.com"),
        str(log),
        cwd=tmp_path,
        env=SECRET_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert [h["url"] for h in fake.hits] == [
        "https://shop.example.com/shop/item?id=4",
        "https://shop.example.com/shop/cart",
    ]


def test_every_sample_log_lands_as_save_requests_writes_it(fake: FakePiwikPro, tmp_path: Path) -> None:
    samples = sorted(str(p) for p in SAMPLES.glob("*.log"))
    options = [*piwik_args(fake, "--recorders=1", "--enable-http-errors", "--enable-http-redirects", "--no-state")]
    result = run_cli(*options, *samples, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "saved.jsonl"
    dry = run_cli(*options, f"--save-requests={saved}", *samples, cwd=tmp_path, env=SECRET_ENV)
    assert dry.returncode == 0, dry.stderr
    # Host-less formats take the app's first URL from Piwik PRO; the file backend has no app to ask.
    expected = [
        json.loads(line.replace("no-hostname-found-in-log", "www.example.com"))
        for line in saved.read_text().splitlines()
    ]
    bodies = [item for r in fake.tracking_requests() for item in json.loads(r.body)["requests"]]
    assert bodies == expected and len(expected) > 18 * 10
