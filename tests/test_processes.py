"""The worker processes: a killed worker stops the import with a clear error, Ctrl-C stops them all (issue #4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLES


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in Path(f"/proc/{parent}/task/{task}/children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~400,000 lines: a few seconds of parsing, long enough to interfere with."""
    lines = (SAMPLES / "common_complete.log").read_text().splitlines(keepends=True)
    path = tmp_path_factory.mktemp("big") / "big.log"
    with path.open("w") as f:
        for _ in range(20_000):
            f.writelines(lines)
    return path


def start(big_log: Path, tmp_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "import_logs", "--dry-run", "--no-progress", "--workers=2", str(big_log)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while len(descendants(proc.pid)) < 3 and time.monotonic() < deadline:  # the forkserver and two workers
        time.sleep(0.05)
    time.sleep(0.3)
    return proc


def test_a_killed_worker_stops_the_import_with_a_clear_error(big_log: Path, tmp_path: Path) -> None:
    proc = start(big_log, tmp_path)
    workers = [pid for pid in descendants(proc.pid) if pid not in _direct_children(proc.pid)]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "a worker process died (killed, or out of memory) while parsing" in err
    assert "Logs import summary" in out


def test_ctrl_c_stops_every_process(big_log: Path, tmp_path: Path) -> None:
    proc = start(big_log, tmp_path)
    family = [proc.pid, *descendants(proc.pid)]
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    proc.communicate(timeout=10)  # bounds against hangs, not timings
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode == 130
    assert not [pid for pid in family if alive(pid)]


def test_a_killed_importer_takes_its_forkserver_and_workers_with_it(big_log: Path, tmp_path: Path) -> None:
    """kill -9 of the importer: its workers held its stdout, so `import-logs ... | cat` never ended (#15)."""
    proc = start(big_log, tmp_path)
    family = descendants(proc.pid)
    assert len(family) >= 3, "the forkserver and two workers"
    proc.kill()
    _, err = proc.communicate(timeout=30)  # the pipes reach their end: no process of the import holds them any more
    assert "leaked semaphore" not in err  # the resource tracker cleans up after it without a word (cron mails it)
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in family if alive(pid)]


def _direct_children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        kids += [int(k) for k in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return kids
