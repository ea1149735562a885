"""What a run says may be stored twice is a true upper bound, counted at the server (issue #22).

The fake server keeps every hit it stores, so duplicates = stored - distinct. Two figures bound them: the next
run's "up to N of its hits may have been accepted" (what a stopped, failed or killed run left in flight), and a
run's own ``hits_maybe_stored_twice`` (the copies its retries may have made).
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro, Fault
from test_resume import append, expect, imported, start


def duplicates(fake: FakePiwikPro) -> int:
    return len(fake.hits) - len(imported(fake))


def announced(stderr: str) -> int:
    found = re.search(r"up to (\d+) of its hits may have been accepted", stderr)
    return int(found[1]) if found else 0


def _file_size_limit(limit: int) -> None:
    """In the child: files cannot grow past ``limit`` bytes, as on a full disk (EFBIG instead of SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("recorders", [1, 2, 3, 4])
def test_after_a_full_disk_the_next_run_resends_at_most_what_it_announces(recorders: int, tmp_path: Path) -> None:
    """The journal's last line torn by the full disk (a short write) was a batch the lane took for journaled."""
    log = tmp_path / "access.log"
    append(log, "d", 1, 2000)
    state = tmp_path / "state.json"
    with FakePiwikPro() as fake:
        args = piwik_args(fake, f"--recorders={recorders}", f"--state-file={state}", str(log))  # 95 hits a batch
        full = subprocess.run(
            [sys.executable, "-m", "import_logs", *args],
            env={**os.environ, **SECRET_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            preexec_fn=lambda: _file_size_limit(3000),
        )
        assert full.returncode == 7, full.stderr
        again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode == 0, again.stderr
        assert set(imported(fake)) == expect("d", 1, 2000)
        assert duplicates(fake) <= announced(again.stderr), again.stderr


def test_kill_9_at_random_moments_resends_at_most_what_the_next_run_announces(tmp_path: Path) -> None:
    rng = random.Random(20261205)
    payload = 5
    for recorders in (1, 2, 3, 4):
        for seed in range(2):
            work = tmp_path / f"r{recorders}-{seed}"
            work.mkdir()
            log = work / "access.log"
            append(log, "k", 1, 300)
            with FakePiwikPro(track_delay=0.01) as fake:
                args = piwik_args(
                    fake, "--workers=1", f"--recorders={recorders}", f"--recorder-max-payload-size={payload}", str(log)
                )
                proc = start(args, work, output=subprocess.DEVNULL)
                at = rng.randrange(20, 250)
                deadline = time.monotonic() + 30
                while len(fake.hits) < at and time.monotonic() < deadline:
                    time.sleep(0.001)
                proc.kill()
                proc.wait(timeout=10)
                time.sleep(0.05)  # the requests under way end at the server
                again = run_cli(*args, cwd=work, env=SECRET_ENV)
                assert again.returncode == 0, again.stderr
                assert set(imported(fake)) == expect("k", 1, 300)
                said = announced(again.stderr)
                assert duplicates(fake) <= said, f"{recorders} recorders, killed after {at} hits: {again.stderr}"


def test_a_run_killed_before_it_resent_what_the_previous_one_left_announces_both(tmp_path: Path) -> None:
    """Run 1 (4 lanes) is killed with 4 batches in flight; run 2 (1 lane) is killed while its first batch
    hangs; run 3 sends all of them again: run 2's bound alone (one batch) would be short."""
    log = tmp_path / "access.log"
    append(log, "c", 1, 400)
    state = tmp_path / "state.json"
    with FakePiwikPro(track_delay=0.2) as fake:

        def args(recorders: int) -> list[str]:
            return piwik_args(
                fake,
                "--workers=1",
                f"--recorders={recorders}",
                "--recorder-max-payload-size=10",
                f"--state-file={state}",
                str(log),
            )

        first = start(args(4), tmp_path, output=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(fake.tracking_requests()) < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.kill()
        first.wait(timeout=10)
        time.sleep(0.5)  # the four requests under way are stored after their delay
        fake.track_delay = 0.0
        fake.fail_next("track", Fault(hang=True, store=True))
        sent = len(fake.tracking_requests())
        second = start(args(1), tmp_path, output=subprocess.DEVNULL)
        while len(fake.tracking_requests()) == sent and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.2)
        second.kill()
        second.wait(timeout=10)
        before = duplicates(fake)
        third = run_cli(*args(1), cwd=tmp_path, env=SECRET_ENV)
        assert third.returncode == 0, third.stderr
        assert set(imported(fake)) == expect("c", 1, 400)
        assert duplicates(fake) - before <= announced(third.stderr), third.stderr


def test_maybe_stored_twice_counts_every_copy_a_retry_may_have_made(tmp_path: Path) -> None:
    """Each attempt that reached the server before its answer was lost (a hang, a reset) may add a copy."""
    log = tmp_path / "access.log"
    append(log, "m", 1, 30)
    summary = tmp_path / "summary.json"
    with FakePiwikPro() as fake:
        fake.fail_next("track", Fault(hang=True, store=True), Fault(drop=True, store=True))
        args = piwik_args(fake, "--workers=1", "--recorders=1", "--recorder-max-payload-size=10", "--request-timeout=1")
        result = run_cli(*args, f"--summary-json={summary}", str(log), cwd=tmp_path, env=SECRET_ENV)
        assert result.returncode == 0, result.stderr
        assert set(imported(fake)) == expect("m", 1, 30)
        assert duplicates(fake) == 20
    assert json.loads(summary.read_text())["hits_maybe_stored_twice"] >= duplicates(fake)


def test_a_batch_that_fails_after_stored_attempts_is_counted_and_announced(tmp_path: Path) -> None:
    """Every attempt stored, every answer lost: the run's figure counts the copies beyond the first, and the
    next run announces the batch it sends again."""
    log = tmp_path / "access.log"
    append(log, "f", 1, 30)
    summary = tmp_path / "summary.json"
    with FakePiwikPro() as fake:
        fake.fail_next("track", *[Fault(drop=True, store=True)] * 3)
        args = [
            *piwik_args(fake, "--workers=1", "--recorders=1", "--recorder-max-payload-size=10"),
            "--retry-max-attempts=3",
            str(log),
        ]
        failed = run_cli(*args, f"--summary-json={summary}", cwd=tmp_path, env=SECRET_ENV)
        assert failed.returncode == 5, failed.stderr
        made = duplicates(fake)
        assert made == 20
        assert json.loads(summary.read_text())["hits_maybe_stored_twice"] >= made
        again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode == 0, again.stderr
        assert set(imported(fake)) == expect("f", 1, 30)
        assert duplicates(fake) - made <= announced(again.stderr), again.stderr
