"""The state file and the ledger in one process: what a checkpoint holds, and what survives a crash (#12, #15).

A "crash" here is a StateFile left without its last save: a new StateFile on the same path loads the last
snapshot and replays the journal, as the next run after a kill -9 does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from import_logs.checkpoint.ledger import Ledger
from import_logs.checkpoint.state import StateFile
from import_logs.errors import StateFileError, StateLockedError

HEAD = b'10.0.0.1 - - [01/Mar/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1\n' * 40


def opened(path: Path) -> StateFile:
    state = StateFile(str(path), "https://example#1", lock_timeout=0)
    state.__enter__()
    return state


def crash(state: StateFile) -> StateFile:
    """Drop the run without its last save (the lock goes with it, as with a dead process)."""
    state.__exit__(None, None, None)
    return opened(Path(state.path))


def test_the_checkpoint_moves_only_past_blocks_whose_every_hit_was_accepted(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    entry = state.add(HEAD, "access.log", compressed=False)
    ledger = Ledger(state, in_flight_bound=10)
    ledger.track(0, entry)
    ledger.add_block(0, 0, 100, 0, 10, hits=[1, 2, 3], acked=[])
    ledger.add_block(0, 100, 200, 10, 10, hits=[11, 12], acked=[])
    ledger.accept([(0, 11), (0, 12)])  # the second block is done, the first is not: no move
    assert (entry.offset, entry.line) == (0, 0)
    ledger.accept([(0, 1), (0, 2)])
    assert (entry.offset, entry.line) == (0, 0)
    ledger.accept([(0, 3)])
    assert (entry.offset, entry.line) == (200, 20)
    state.__exit__(None, None, None)


def test_accepted_lines_survive_any_number_of_crashes(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = opened(path)
    entry = state.add(HEAD, "access.log", compressed=False)
    ledger = Ledger(state, in_flight_bound=10)
    ledger.track(0, entry)
    ledger.add_block(0, 0, 100, 0, 10, hits=[1, 2, 3, 4], acked=[])
    ledger.accept([(0, 2), (0, 4)])  # journaled, beyond the checkpoint
    for _ in range(3):  # each next run crashes right after its first snapshot
        state = crash(state)
        again = state.match(HEAD, "access.log", 0, 0)
        assert again is not None and again.acked == [2, 4]
        Ledger(state, in_flight_bound=10).track(0, again)
    assert not state.previous_clean and state.previous_in_flight == 10
    state.__exit__(None, None, None)


def test_rewind_puts_a_source_back_where_its_run_started(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    entry = state.add(HEAD, "access.log", compressed=False)
    entry.offset, entry.line = 500, 40
    ledger = Ledger(state, in_flight_bound=10)
    ledger.track(0, entry)
    ledger.add_block(0, 500, 900, 40, 30, hits=[], acked=[])
    assert entry.line == 70
    ledger.rewind(0, 500, 40)
    assert (entry.offset, entry.line, entry.done) == (500, 40, False)
    state.__exit__(None, None, None)


def test_snapshots_are_private_and_leave_no_tmp(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = opened(path)
    state.add(HEAD, "access.log", compressed=False)
    state.save(clean=True)
    state.__exit__(None, None, None)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "state.json.tmp").exists()
    assert json.loads(path.read_text())["clean"] is True


def test_a_snapshot_that_cannot_be_written_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = opened(path)
    state.add(HEAD, "access.log", compressed=False)
    (path / "in-the-way").mkdir(parents=True)  # the rename fails, whoever runs the test
    with pytest.raises(StateFileError, match="cannot be written"):
        state.save(clean=True)
    assert not (tmp_path / "state.json.tmp").exists()
    state.__exit__(None, None, None)


def test_one_state_one_run(tmp_path: Path) -> None:
    first = opened(tmp_path / "state.json")
    with pytest.raises(StateLockedError, match=f"another import \\(pid {os.getpid()}\\)"):
        opened(tmp_path / "state.json")
    (tmp_path / "state.json.lock").unlink()  # the lock file "looks stale"
    with pytest.raises(StateLockedError):
        opened(tmp_path / "state.json")
    first.__exit__(None, None, None)
    opened(tmp_path / "state.json").__exit__(None, None, None)


def test_the_same_content_is_found_under_another_name(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    entry = state.add(HEAD, "access.log", compressed=False)
    assert state.match(HEAD + b"more lines\n", "access.log.1", 0, 0) is entry  # rotated, and grown
    assert state.match(b"something else" * 100, "access.log", 0, 0) is None
    state.__exit__(None, None, None)


def test_state_directories_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The real command under umask 000 (a cron or a container's default): each directory it creates for its
    state is 0700, its files 0600."""
    import subprocess
    import sys

    from conftest import SECRET_ENV, piwik_args
    from fake_server import FakePiwikPro
    from test_resume import log_lines

    log = tmp_path / "access.log"
    log.write_text(log_lines("u", 1, 5))
    state_dir = tmp_path / "home" / "state" / "import-logs"
    with FakePiwikPro() as fake:
        command = [sys.executable, "-m", "import_logs", *piwik_args(fake), str(log)]
        env = {**os.environ, **SECRET_ENV, "IMPORT_LOGS_STATE_DIR": str(state_dir)}
        umask0 = ["sh", "-c", 'umask 000 && exec "$@"', "sh", *command]
        result = subprocess.run(umask0, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for directory in (tmp_path / "home", tmp_path / "home" / "state", state_dir):
        assert oct(directory.stat().st_mode & 0o777) == oct(0o700), directory
    files = list(state_dir.iterdir())
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files), [oct(f.stat().st_mode) for f in files]
