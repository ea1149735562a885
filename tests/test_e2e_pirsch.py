"""The real CLI, with its real worker processes, against the fake Pirsch on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli
from fake_others import FakePirsch
from fake_server import Fault

LOG = str(SAMPLES / "common_complete.log")
CLIENT_ENV = {"IMPORT_LOGS_CLIENT_SECRET": "pirsch-secret"}


@pytest.fixture
def pirsch() -> FakePirsch:
    with FakePirsch() as server:
        yield server


def args(server: FakePirsch, *extra: str) -> list[str]:
    return ["--backend=pirsch", f"--url={server.url}", "--retry-delay=0.01", "--no-progress", *extra]


def test_the_exact_hits_of_a_sample(pirsch: FakePirsch, tmp_path: Path) -> None:
    result = run_cli(*args(pirsch, "--client-id=pirsch-client", "--recorders=1"), LOG, cwd=tmp_path, env=CLIENT_ENV)
    assert result.returncode == 0, result.stderr
    assert len(pirsch.hits) == 9
    assert pirsch.hits[0] == {
        "url": "https://www.example.com/",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "time": "2024-02-10T21:42:07Z",
    }
    assert pirsch.hits[1]["referrer"] == "https://www.search.example/?q=books"
    tracking = [r for r in pirsch.requests if r.path == "/api/v1/hit/batch"]
    assert all(r.headers["authorization"] == "Bearer pirsch-token-1" for r in tracking)
    # Each visitor's hits in time order.
    for ip in {h["ip"] for h in pirsch.hits}:
        times = [h["time"] for h in pirsch.hits if h["ip"] == ip]
        assert times == sorted(times)


def test_every_sample_log_lands_as_save_requests_writes_it(pirsch: FakePirsch, tmp_path: Path) -> None:
    samples = sorted(str(p) for p in SAMPLES.glob("*.log"))
    options = ["--client-secret=pa_access-key", "--recorders=1", "--no-state", "--log-hostname=www.example.com"]
    result = run_cli(*args(pirsch, *options), *samples, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "saved.jsonl"
    dry = run_cli(*args(pirsch, *options), f"--save-requests={saved}", *samples, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    expected = [json.loads(line) for line in saved.read_text().splitlines()]
    assert pirsch.hits == expected and len(expected) > 18 * 4
    # An access key is the bearer token itself: no token request.
    assert not any(r.path == "/api/v1/token" for r in pirsch.requests)


def test_refused_client_credentials(pirsch: FakePirsch, tmp_path: Path) -> None:
    result = run_cli(
        *args(pirsch, "--client-id=pirsch-client"), LOG, cwd=tmp_path, env={"IMPORT_LOGS_CLIENT_SECRET": "no"}
    )
    assert result.returncode == 4
    assert "Pirsch refused the client credentials (HTTP 401" in result.stderr and "client not found" in result.stderr


def test_refused_access_key(pirsch: FakePirsch, tmp_path: Path) -> None:
    result = run_cli(*args(pirsch, "--client-secret=pa_revoked"), LOG, cwd=tmp_path)
    assert result.returncode == 4
    assert "unauthorized" in result.stderr


def test_a_validation_error_is_shown_as_pirsch_wrote_it(pirsch: FakePirsch, tmp_path: Path) -> None:
    pirsch.fail_next("track", Fault(status=400, body='{"validation": {"url": "too long"}, "error": []}'))
    result = run_cli(*args(pirsch, "--client-secret=pa_access-key"), LOG, cwd=tmp_path)
    assert result.returncode == 5
    assert "Pirsch rejected the batch starting at" in result.stderr and "(HTTP 400: url: too long)" in result.stderr


def test_pirsch_is_picked_from_an_access_key(tmp_path: Path) -> None:
    result = run_cli("--client-secret=pa_x", "--url=http://127.0.0.1:9", "--retry-max-attempts=1", LOG, cwd=tmp_path)
    assert result.returncode == 5
    assert "/api/v1/hit/batch" in result.stderr


def test_tracker_endpoint_path_which_pirsch_ignores_keeps_its_state_file(
    pirsch: FakePirsch, tmp_path: Path, _state_dir: Path
) -> None:
    """Pirsch's API path is fixed, so --tracker-endpoint-path changes nothing it sends: it must not change the
    state file either, or a run given it would send every line again."""
    first = run_cli(*args(pirsch, "--client-secret=pa_access-key"), LOG, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(pirsch.hits) == 9
    again = run_cli(
        *args(pirsch, "--client-secret=pa_access-key", "--tracker-endpoint-path=/other.php"), LOG, cwd=tmp_path
    )
    assert again.returncode == 6, again.stderr  # the same state file was found: nothing sent twice
    assert "no new lines, nothing to import" in again.stderr and len(pirsch.hits) == 9
    assert len(list(_state_dir.glob("*.json"))) == 1
