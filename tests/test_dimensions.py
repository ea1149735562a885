"""Custom dimensions (#14 item 5): Matomo 5 has no custom variables in core, so the status, the bot flag and
regex groups can go to custom dimensions, on Matomo and on Piwik PRO alike; and Matomo says at start when they
would be lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, SECRET_ENV, piwik_args, run_cli
from fake_others import FakeMatomo
from fake_server import FakePiwikPro

LOG = str(SAMPLES / "common_complete.log")
TOKEN_ENV = {"IMPORT_LOGS_TOKEN_AUTH": "secret-token"}
WARNING = "this Matomo has no CustomVariables plugin"


@pytest.fixture
def matomo() -> Iterator[FakeMatomo]:
    with FakeMatomo() as server:
        yield server


def matomo_args(server: FakeMatomo, *extra: str) -> list[str]:
    return [f"--url={server.url}", "--idsite=1", "--retry-delay=0.01", "--no-progress", *extra]


def test_matomo_5_without_custom_variables_says_so(matomo: FakeMatomo, tmp_path: Path) -> None:
    matomo.plugins.discard("CustomVariables")
    result = run_cli(*matomo_args(matomo), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert WARNING in result.stderr and "--dimension http-status=ID" in result.stderr


def test_matomo_with_custom_variables_says_nothing(matomo: FakeMatomo, tmp_path: Path) -> None:
    result = run_cli(*matomo_args(matomo), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert WARNING not in result.stderr


def test_matomo_dimensions_carry_the_status_the_bot_flag_and_a_group(matomo: FakeMatomo, tmp_path: Path) -> None:
    matomo.plugins.discard("CustomVariables")
    extra = [
        "--dimension=http-status=4,bot=5",
        "--dimension=http-method=6",
        "--regex-group-to-visit-dimension=userid=7",
        "--enable-bots",
        "--enable-http-errors",
    ]
    result = run_cli(*matomo_args(matomo, *extra), LOG, cwd=tmp_path, env=TOKEN_ENV)
    assert result.returncode == 0, result.stderr
    assert WARNING not in result.stderr
    hits = matomo.hits
    assert {h["dimension4"] for h in hits} >= {"200", "404", "500"}
    assert {h["dimension5"] for h in hits} == {"Bot", "Not-Bot"}
    assert {h["dimension6"] for h in hits} >= {"GET"}
    alice = [h for h in hits if h.get("uid") == "alice"]
    assert alice and all(h["dimension7"] == "alice" for h in alice)
    assert all("dimension7" not in h for h in hits if "uid" not in h)


def test_piwik_pro_takes_the_same_dimensions(fake: FakePiwikPro, tmp_path: Path) -> None:
    extra = ["--dimension=http-status=3", "--regex-group-to-page-dimension=userid=2"]
    result = run_cli(*piwik_args(fake, *extra), LOG, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert {h["dimension3"] for h in fake.hits} == {"200", "304"}
    assert [h["dimension2"] for h in fake.hits if "dimension2" in h] == ["alice"] * 2


def test_a_dimension_must_be_a_number_and_a_known_name(tmp_path: Path) -> None:
    bad_id = run_cli("--dry-run", "--dimension=http-status=four", LOG, cwd=tmp_path)
    assert bad_id.returncode == 2 and "the dimension is its number" in bad_id.stderr
    bad_name = run_cli("--dry-run", "--dimension=country=3", LOG, cwd=tmp_path)
    assert bad_name.returncode == 2 and "'country' is not one of bot, http-status, http-method" in bad_name.stderr


def test_pirsch_refuses_dimensions(tmp_path: Path) -> None:
    result = run_cli("--backend=pirsch", "--client-secret=pa_key", "--dimension=http-status=3", LOG, cwd=tmp_path)
    assert result.returncode == 2 and "no meaning for Pirsch" in result.stderr


def test_in_process_matomo_dimensions_and_the_missing_plugin(matomo: FakeMatomo, tmp_path: Path) -> None:
    """The CLI in this process (--workers 1), so that the sender's start-up check is measured by coverage."""
    from click.testing import CliRunner

    from import_logs.cli import main

    matomo.plugins.discard("CustomVariables")
    runner = CliRunner()
    said = runner.invoke(main, ["--workers=1", "--no-state", *matomo_args(matomo), LOG], env=TOKEN_ENV)
    assert said.exit_code == 0, said.output
    assert WARNING in said.output
    extra = ["--dimension=http-status=4", "--regex-group-to-page-dimension=userid=7", "--tracking-param=x=1"]
    sent = runner.invoke(main, ["--workers=1", "--no-state", *matomo_args(matomo, *extra), LOG], env=TOKEN_ENV)
    assert sent.exit_code == 0, sent.output
    assert WARNING not in sent.output
    last = matomo.hits[-9:]
    assert all(h["dimension4"] in ("200", "304") and h["x"] == "1" for h in last)
