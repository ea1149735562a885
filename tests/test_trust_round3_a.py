"""Trust, third round (issue #22): each case failed before its fix.

The real CLI, with its real worker processes, against the fake servers (and silent sockets) on 127.0.0.1. Log
lines carry their tag and number in their path (see ``test_resume``), so the server's hits say what was
imported, and how often.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES, run_cli

# --- 11. the credentials are checked before any worker process starts ---------------------------------------

MISSING_CREDENTIALS = (
    "import-logs: error: --client-id and --client-secret are required: create API credentials in Piwik PRO "
    "(My profile → API credentials); the secret can also come from IMPORT_LOGS_CLIENT_SECRET.\n"
)


def test_missing_credentials_never_end_with_a_traceback(tmp_path: Path) -> None:
    log = str(SAMPLES / "common.log")
    for _ in range(20):
        result = run_cli("--url=http://127.0.0.1:9", "--idsite=app", "--workers=2", log, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == MISSING_CREDENTIALS


def test_the_worker_pool_is_not_started_when_the_credentials_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from import_logs.config import BackendOptions, Config
    from import_logs.errors import ConfigError
    from import_logs.pipeline import importer

    started: list[int] = []
    monkeypatch.setattr(importer, "start_workers", lambda workers: started.append(workers))
    config = Config(
        inputs=(str(SAMPLES / "common.log"),),
        workers=2,
        backend=BackendOptions(url="http://127.0.0.1:9", idsite="app"),
    )
    with pytest.raises(ConfigError, match="--client-id and --client-secret are required"):
        importer.Importer(config).run()
    assert started == []
