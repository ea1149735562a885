"""The real CLI, with its real worker processes, against the fake Matomo on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from conftest import SAMPLES, run_cli
from fake_others import FakeMatomo
from fake_server import Fault

LOG = str(SAMPLES / "common_complete.log")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
TOKEN_ENV = {"IMPORT_LOGS_TOKEN_AUTH": "secret-token"}


@pytest.fixture
def matomo() -> FakeMatomo:
    with FakeMatomo() as server:
        yield server


def args(server: FakeMatomo, *extra: str) -> list[str]:
    return [f"--url={server.url}", "--retry-delay=0.01", "--no-progress", *extra]


def body_items(server: FakeMatomo) -> list[str]:
    return [item for r in server.tracking_requests() for item in json.loads(r.body)["requests"]]


def test_the_exact_requests_of_a_sample_with_the_token_in_the_body_only(matomo: FakeMatomo, tmp_path: Path) -> None:
    result = run_cli(*args(matomo, "--idsite=1", "--recorders=1", "--workers=2"), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    items = body_items(matomo)
    assert len(items) == len(matomo.hits) == 9
    assert items[0] == (
        "?idsite=1&rec=1&apiv=1&queuedtracking=0&dp=1&cdt=2024-02-10%2021%3A42%3A07"
        "&ua=Mozilla%2F5.0%20%28X11%3B%20Linux%20x86_64%3B%20rv%3A121.0%29%20Gecko%2F20100101%20Firefox%2F121.0"
        "&url=https%3A%2F%2Fwww.example.com%2F&cip=203.0.113.7"
        "&cvar=%7B%221%22%3A%20%5B%22HTTP-code%22%2C%20%22200%22%5D%7D&bw_bytes=5120"
    )
    second = dict(parse_qsl(items[1].lstrip("?")))
    assert second["url"] == "https://www.example.com/products/index.html?category=books&sort=price"
    assert second["urlref"] == "https://www.search.example/?q=books"
    assert second["uid"] == "alice"
    assert dict(parse_qsl(items[2].lstrip("?")))["download"].endswith("/downloads/catalogue-2024.pdf")
    for request in matomo.tracking_requests():
        assert request.path == "/matomo.php"  # the token never in a URL
        assert json.loads(request.body)["token_auth"] == "secret-token"
    assert "secret-token" not in result.stdout + result.stderr
    assert "9 requests imported successfully" in result.stdout


def test_every_sample_log_lands_as_save_requests_writes_it(matomo: FakeMatomo, tmp_path: Path) -> None:
    samples = sorted(str(p) for p in SAMPLES.glob("*.log"))
    options = ["--idsite=1", "--recorders=1", "--enable-http-errors", "--enable-http-redirects", "--no-state"]
    result = run_cli(*args(matomo, *options), *samples, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "saved.jsonl"
    dry = run_cli(*args(matomo, *options), f"--save-requests={saved}", *samples, cwd=tmp_path, env=TOKEN_ENV)
    assert dry.returncode == 0, dry.stderr
    # Host-less formats take the site's main URL from Matomo; the file backend has no site to ask.
    expected = [
        json.loads(line).replace("no-hostname-found-in-log", "www.example.com")
        for line in saved.read_text().splitlines()
    ]
    assert body_items(matomo) == expected
    assert len(matomo.hits) == len(expected) > 18 * 10


def test_token_from_login_and_password(matomo: FakeMatomo, tmp_path: Path) -> None:
    result = run_cli(
        *args(matomo, "--idsite=1", "--login=admin"), LOG, cwd=tmp_path, env={"IMPORT_LOGS_PASSWORD": "admin-password"}
    )
    assert result.returncode == 0, result.stderr
    created = [c for c in matomo.api_calls if c["method"] == "UsersManager.createAppSpecificTokenAuth"]
    assert len(created) == 1 and created[0]["expireHours"] == "48"
    assert {json.loads(r.body)["token_auth"] for r in matomo.tracking_requests()} == {"app-token-2"}


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (
            ["--idsite=1", "--login=admin"],
            {"IMPORT_LOGS_PASSWORD": "wrong"},
            "Matomo refused --login admin and its password (The current password you entered is not correct.)",
        ),
        (
            ["--idsite=1"],
            {"IMPORT_LOGS_TOKEN_AUTH": "wrong-token"},
            "Matomo refused site 1 (Unable to authenticate with the provided token. It is either invalid or expired.)",
        ),
        (
            ["--idsite=7"],
            TOKEN_ENV,
            "Matomo refused site 7 (An unexpected website was found in the request: website id was set to '7' .)",
        ),
    ],
)
def test_refused_credentials_and_sites_are_named(
    matomo: FakeMatomo, tmp_path: Path, extra: list[str], env: dict[str, str], message: str
) -> None:
    result = run_cli(*args(matomo, *extra), LOG, cwd=tmp_path, env=env)
    assert result.returncode == 4
    assert message in result.stderr
    assert matomo.hits == []


def test_backdated_hits_need_a_token_with_write_access(tmp_path: Path) -> None:
    with FakeMatomo(tokens={"view-token": "view"}) as matomo:
        result = run_cli(*args(matomo, "--idsite=1"), LOG, cwd=tmp_path, env={"IMPORT_LOGS_TOKEN_AUTH": "view-token"})
    assert result.returncode == 4
    assert "Matomo refused the hits: Custom timestamp is" in result.stderr
    assert "Give --token-auth of a user with write access to 1" in result.stderr


def _log_with(tmp_path: Path, marker_line: int, marker: str) -> Path:
    lines = (SAMPLES / "common_complete.log").read_text().splitlines()
    lines[marker_line - 1] = lines[marker_line - 1].replace("GET /new-page", f"GET /new-page-{marker}")
    assert marker in lines[marker_line - 1]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_hit_matomo_refuses_is_isolated_and_reported_and_the_rest_imported(
    matomo: FakeMatomo, tmp_path: Path
) -> None:
    line = next(i for i, t in enumerate(Path(LOG).read_text().splitlines(), 1) if "GET /new-page" in t)
    log = _log_with(tmp_path, line, "reject-me")
    result = run_cli(*args(matomo, "--idsite=1", "--summary-json=-"), str(log), cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert len(matomo.hits) == 8
    assert not any("reject-me" in h["url"] for h in matomo.hits)
    assert f"access.log:{line}: rejected by Matomo: Invalid request" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["hits_rejected"] == 1 and summary["hits_sent"] == 8
    assert summary["rejected_lines"][0]["line"] == line


def test_invalid_indices_are_counted_with_file_and_line(matomo: FakeMatomo, tmp_path: Path) -> None:
    line = next(i for i, t in enumerate(Path(LOG).read_text().splitlines(), 1) if "GET /new-page" in t)
    log = _log_with(tmp_path, line, "invalid-me")
    result = run_cli(*args(matomo, "--idsite=1"), str(log), cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert len(matomo.hits) == 8 and len(matomo.invalid) == 1
    assert "1 requests rejected by the server as invalid" in result.stdout
    assert f"access.log:{line}: invalid for Matomo" in result.stdout


def test_a_lock_timeout_rolls_back_and_the_batch_is_sent_again(matomo: FakeMatomo, tmp_path: Path) -> None:
    matomo.lock_timeouts = 1
    result = run_cli(*args(matomo, "--idsite=1"), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert len(matomo.hits) == 9
    assert len({h["cdt"] + h["url"] for h in matomo.hits}) == 9


def test_hits_dropped_without_an_error_are_counted(matomo: FakeMatomo, tmp_path: Path) -> None:
    matomo.silent_drops = 2
    result = run_cli(*args(matomo, "--idsite=1", "--summary-json=-"), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert "2 were dropped without an error" in result.stderr
    assert "2 requests the server dropped without an error" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["hits_dropped_by_server"] == 2 and summary["hits_sent"] == 7


def test_a_server_error_that_is_not_matomos_stops_with_its_message(matomo: FakeMatomo, tmp_path: Path) -> None:
    matomo.fail_next("track", *[Fault(status=502, body="bad gateway")] * 3)
    result = run_cli(*args(matomo, "--idsite=1"), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 5
    assert "failed after 3 attempt(s): HTTP 502 bad gateway" in result.stderr


def test_the_older_endpoint_is_accepted(matomo: FakeMatomo, tmp_path: Path) -> None:
    result = run_cli(
        *args(matomo, "--idsite=1", "--tracker-endpoint-path=/piwik.php"), LOG, cwd=tmp_path, env=TOKEN_ENV
    )
    assert result.returncode == 0, result.stderr
    assert {r.path for r in matomo.tracking_requests()} == {"/piwik.php"}


def test_replayed_tracking_requests_keep_their_parameters(matomo: FakeMatomo, tmp_path: Path) -> None:
    log = tmp_path / "tracker.log"
    log.write_text(
        '203.0.113.7 - - [10/Feb/2024:16:42:07 -0500] "GET /matomo.php?idsite=1&rec=1&_id=0123456789abcdef'
        '&url=https%3A%2F%2Fwww.example.com%2Fa&res=1920x1080&token_auth=leaked HTTP/1.1" 204 0 "-" "UA one"\n'
        '203.0.113.8 - - [10/Feb/2024:16:42:09 -0500] "GET /page HTTP/1.1" 200 10 "-" "UA two"\n'
        '203.0.113.9 - - [10/Feb/2024:16:42:10 -0500] "GET /matomo.php?idsite=5&rec=1&url=x HTTP/1.1" 204 0 "-" "UA"\n'
    )
    result = run_cli(*args(matomo, "--replay-tracking", "--summary-json=-"), str(log), cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert len(matomo.hits) == 1
    hit = matomo.hits[0]
    assert hit["_id"] == "0123456789abcdef" and hit["res"] == "1920x1080" and hit["idsite"] == "1"
    assert hit["url"] == "https://www.example.com/a" and hit["cip"] == "203.0.113.7"
    assert hit["cdt"] == "2024-02-10 21:42:07" and hit["ua"] == "UA one"
    assert "token_auth" not in hit
    summary = json.loads(result.stdout)
    assert summary["skipped"]["not_tracking_request"] == 1
    assert summary["unknown_hosts"] == {"5": 1}
