"""The token on the Matomo server (--config, --php-binary, --enable-testmode): the real CLI runs a stand-in for PHP
that behaves as Matomo's misc/cron/updatetoken.php does, against the fake Matomo, which accepts only that token."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli
from fake_others import FakeMatomo

from import_logs.backends import matomo_token
from import_logs.errors import ConfigError

LOG = str(SAMPLES / "common_complete.log")
TOKEN = "php-made-token-0123456789abcdef"

#: A stand-in for ``php``: argv[1] is the script, the rest its arguments. It does what updatetoken.php does (writes
#: the token file under Matomo's tmp directory, prints its path) and records how it was called.
STAND_IN = """#!{python}
import json, os, sys
root = os.getcwd()
with open(os.path.join(root, "calls.jsonl"), "a") as calls:
    calls.write(json.dumps({{"argv": sys.argv[1:], "cwd": root}}) + "\\n")
mode = os.environ.get("STAND_IN_MODE", "")
if mode == "fail":
    sys.stderr.write("PHP Fatal error:  Uncaught Exception: SQLSTATE[HY000] [2002] Connection refused\\n")
    sys.exit(255)
path = os.path.join(root, "tmp", "cache", "token.php")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as token_file:
    token_file.write("<?php exit; //\\t{token}")
if mode == "notice":
    print("PHP Deprecated:  something in a plugin")
print(os.path.join(root, "tmp", "cache", "gone.php") if mode == "no-file" else path, end="")
"""


def matomo_dir(tmp_path: Path) -> Path:
    """A Matomo directory as far as the token goes: its config file, its token script, and a stand-in PHP."""
    root = tmp_path / "matomo"
    (root / "config").mkdir(parents=True)
    (root / "config" / "config.ini.php").write_text("; <?php exit; ?> DO NOT REMOVE THIS LINE\n[database]\n")
    (root / "misc" / "cron").mkdir(parents=True)
    (root / "misc" / "cron" / "updatetoken.php").write_text("<?php // Matomo's, run by the stand-in PHP\n")
    php = tmp_path / "php"
    php.write_text(STAND_IN.format(python=sys.executable, token=TOKEN))
    php.chmod(php.stat().st_mode | stat.S_IXUSR)
    return root


def calls(root: Path) -> list[dict[str, object]]:
    path = root / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def matomo() -> FakeMatomo:
    with FakeMatomo(tokens={TOKEN: "super"}) as server:
        yield server


def cli(server: FakeMatomo, tmp_path: Path, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(
        f"--url={server.url}",
        "--idsite=1",
        "--retry-delay=0.01",
        "--no-progress",
        "--no-state",
        f"--php-binary={tmp_path / 'php'}",
        *extra,
        LOG,
        cwd=tmp_path,
        env={"IMPORT_LOGS_TOKEN_AUTH": "", **(env or {})},
    )


def test_the_token_comes_from_matomos_script_as_the_reference_gets_it(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    result = cli(matomo, tmp_path, f"--config={root / 'config' / 'config.ini.php'}")
    assert result.returncode == 0, result.stderr
    assert "9 requests imported successfully" in result.stdout
    assert {json.loads(r.body)["token_auth"] for r in matomo.tracking_requests()} == {TOKEN}
    assert {c["token_auth"] for c in matomo.api_calls} == {TOKEN}
    assert TOKEN not in result.stdout + result.stderr
    (call,) = calls(root)
    assert call["cwd"] == str(root)
    assert call["argv"] == [str(root / "misc" / "cron" / "updatetoken.php"), "--matomo-domain=127.0.0.1"]


def test_a_matomo_directory_and_testmode_and_php_notices(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    result = cli(matomo, tmp_path, f"--config={root}", "--enable-testmode", env={"STAND_IN_MODE": "notice"})
    assert result.returncode == 0, result.stderr
    assert {json.loads(r.body)["token_auth"] for r in matomo.tracking_requests()} == {TOKEN}
    (call,) = calls(root)
    assert call["argv"][1:] == ["--testmode", "--matomo-domain=127.0.0.1"]


def test_php_not_found_names_php_binary(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    result = cli(matomo, tmp_path, f"--config={root}", "--php-binary=/nonexistent/php8.3")
    assert result.returncode == 2, result.stderr
    assert "PHP was not found (/nonexistent/php8.3)" in result.stderr
    assert "--php-binary" in result.stderr and "--token-auth" in result.stderr
    assert matomo.tracking_requests() == []


def test_the_script_failing_shows_its_error(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    result = cli(matomo, tmp_path, f"--config={root}", env={"STAND_IN_MODE": "fail"})
    assert result.returncode == 4, result.stderr
    assert "failed (exit status 255): PHP Fatal error: Uncaught Exception: SQLSTATE[HY000]" in result.stderr
    assert "updatetoken.php --matomo-domain=127.0.0.1" in result.stderr
    assert matomo.tracking_requests() == []


def test_a_token_file_that_cannot_be_read(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    result = cli(matomo, tmp_path, f"--config={root}", env={"STAND_IN_MODE": "no-file"})
    assert result.returncode == 4, result.stderr
    assert f"{root / 'tmp' / 'cache' / 'gone.php'}, which cannot be read" in result.stderr
    assert "must be able to read Matomo's tmp directory" in result.stderr


def test_a_config_file_that_is_missing_or_not_matomos(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    missing = cli(matomo, tmp_path, f"--config={tmp_path / 'nowhere' / 'config.ini.php'}")
    assert missing.returncode == 2
    assert "config.ini.php does not exist" in missing.stderr
    (root / "misc" / "cron" / "updatetoken.php").unlink()
    not_matomo = cli(matomo, tmp_path, f"--config={root}")
    assert not_matomo.returncode == 2
    assert "so it is not a Matomo directory" in not_matomo.stderr
    assert calls(root) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_config_file_the_user_cannot_read(matomo: FakeMatomo, tmp_path: Path) -> None:
    root = matomo_dir(tmp_path)
    (root / "config" / "config.ini.php").chmod(0)
    result = cli(matomo, tmp_path, f"--config={root}")
    assert result.returncode == 2
    assert "cannot be read by the user running the import" in result.stderr


def test_a_config_file_the_user_cannot_read_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, where the tests run as root (who reads any file): the permission error is the one open raises."""
    root = matomo_dir(tmp_path)

    def refused(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(matomo_token, "open", refused, raising=False)
    with pytest.raises(ConfigError, match="cannot be read by the user running the import") as raised:
        matomo_token.check_config(str(root / "config" / "config.ini.php"))
    assert "sudo -u www-data" in str(raised.value) and "--token-auth" in str(raised.value)


def test_no_token_and_no_config_on_a_url_that_answers_as_matomo(matomo: FakeMatomo, tmp_path: Path) -> None:
    """Matomo's documented cron line with only the command name changed: no --backend, no credentials."""
    result = run_cli(
        f"--url={matomo.url}", "--idsite=1", "--no-progress", LOG, cwd=tmp_path, env={"IMPORT_LOGS_TOKEN_AUTH": ""}
    )
    assert result.returncode == 2
    assert "answers as Matomo" in result.stderr
    assert "--config" in result.stderr and "--token-auth" in result.stderr
    assert "--client-id and --client-secret are required" not in result.stderr
    told = run_cli(f"--url={matomo.url}", "--backend=matomo", "--idsite=1", LOG, cwd=tmp_path)
    assert told.returncode == 2
    assert "give --config with Matomo's config/config.ini.php" in told.stderr and "--token-auth" in told.stderr


@pytest.mark.parametrize("mode", ["", "notice", "fail", "no-file"])
def test_the_token_script_in_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """token_from_php itself (the CLI's process is not measured by coverage): the token, or the error and its fix."""
    from import_logs.backends.matomo_token import check_config, token_from_php
    from import_logs.config import BackendOptions
    from import_logs.errors import ImportLogsError

    root = matomo_dir(tmp_path)
    monkeypatch.setenv("STAND_IN_MODE", mode)
    options = BackendOptions(matomo_config=str(root), php_binary=str(tmp_path / "php"), php_testmode=True)
    assert check_config(str(root / "config" / "config.ini.php"))[1] == str(root)
    if mode in ("", "notice"):
        assert token_from_php(options, "matomo.example.com").reveal() == TOKEN
        assert calls(root)[-1]["argv"][1:] == ["--testmode", "--matomo-domain=matomo.example.com"]
        return
    with pytest.raises(ImportLogsError) as caught:
        token_from_php(options, "https://matomo.example.com")
    assert ("Connection refused" if mode == "fail" else "gone.php") in str(caught.value)
