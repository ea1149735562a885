"""Shared fixtures. TZ is pinned far from UTC, so that any local time leaking into a timestamp shows."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["TZ"] = "Pacific/Auckland"
time.tzset()
# No test, nor any process it starts, asks the EC2 instance-metadata address (169.254.169.254) for credentials:
# the AWS SDKs' switch, and obstore's metadata endpoint (it has no switch) on a closed port of this machine.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_METADATA_ENDPOINT"] = os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9"

sys.path.insert(0, str(Path(__file__).parent))

from fake_server import FakePiwikPro  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every CLI it runs) keeps its state in a directory of its own, never in $HOME."""
    directory = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("IMPORT_LOGS_STATE_DIR", str(directory))
    return directory


@pytest.fixture
def fake() -> Iterator[FakePiwikPro]:
    with FakePiwikPro() as server:
        yield server


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real command, in a process of its own, with its real worker processes."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "import_logs", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def piwik_args(server: FakePiwikPro, *extra: str) -> list[str]:
    return [
        f"--url={server.url}",
        "--client-id=client-id",
        "--idsite=app-uuid-1",
        "--retry-delay=0.01",
        "--no-progress",
        *extra,
    ]


SECRET_ENV = {"IMPORT_LOGS_CLIENT_SECRET": "client-secret"}


@contextlib.contextmanager
def lock_held(path: Path, pid: str = "4242") -> Iterator[None]:
    """Another process holds the flock of ``path`` (a state's lock file), with ``pid`` written in it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'w'); f.write(sys.argv[2]); f.flush();"
            "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
            str(path),
            pid,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
