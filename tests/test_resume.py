"""Never a line twice, never one lost: re-runs, growth, rotations, outages, kill -9, locks (issue #5).

Every log line here carries its file tag and line number in its path (``/p/<tag>/<n>``), so the fake server's
accepted hits say, line by line, what was imported and how often.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import SECRET_ENV, lock_held, piwik_args, run_cli
from fake_server import FakePiwikPro, Fault

START = datetime(2024, 3, 1, tzinfo=timezone.utc)


def log_lines(tag: str, first: int, count: int) -> str:
    out = []
    for n in range(first, first + count):
        stamp = (START + timedelta(seconds=n)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        ip = f"10.0.{n % 7}.{n % 5 + 1}"
        out.append(f'www.example.com {ip} - - [{stamp}] "GET /p/{tag}/{n} HTTP/1.1" 200 100 "-" "Mozilla/5.0 test"\n')
    return "".join(out)


def append(path: Path, tag: str, first: int, count: int) -> None:
    with path.open("a") as f:
        f.write(log_lines(tag, first, count))


def imported(fake: FakePiwikPro) -> Counter[str]:
    """'tag/n' → how many times the server accepted that line."""
    return Counter(h["url"].split("/p/", 1)[1] for h in fake.hits)


def expect(tag: str, first: int, count: int) -> set[str]:
    return {f"{tag}/{n}" for n in range(first, first + count)}


def start(args: list[str], cwd: Path, output: int) -> subprocess.Popen[str]:
    """The importer in the background, to be stopped or killed while it sends."""
    env = {**os.environ, **SECRET_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "import_logs", *args], cwd=cwd, env=env, stdout=output, stderr=output, text=True
    )


def run(
    fake: FakePiwikPro, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = run_cli(*piwik_args(fake, "--workers=1", *args), cwd=cwd, env={**SECRET_ENV, **(env or {})})
    return result


def test_the_same_file_again_sends_nothing(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 30)
    assert run(fake, tmp_path, str(log)).returncode == 0
    second = run(fake, tmp_path, str(log), "--summary-json=-")
    assert second.returncode == 6  # nothing new to import: not an error, and cron can tell
    assert imported(fake) == Counter(expect("a", 1, 30))
    assert "no new lines, nothing to import" in second.stderr
    figures = json.loads(second.stdout)
    assert figures["already_imported"] == 30 and figures["hits_sent"] == 0
    assert figures["state_file"].startswith(os.environ["IMPORT_LOGS_STATE_DIR"])


def test_a_grown_file_sends_only_its_new_lines(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 25)
    run(fake, tmp_path, str(log))
    append(log, "a", 26, 40)
    result = run(fake, tmp_path, str(log), "--recorders=3", "--recorder-max-payload-size=4")
    assert result.returncode == 0, result.stderr
    assert imported(fake) == Counter(expect("a", 1, 65))
    assert "25 lines skipped as already imported" in result.stdout


def test_rename_rotation_then_a_new_file(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 20)
    run(fake, tmp_path, str(log))
    append(log, "a", 21, 10)  # written after the last run, before the rotation
    log.rename(tmp_path / "access.log.1")
    append(log, "b", 1, 15)
    result = run(fake, tmp_path, str(tmp_path / "access.log*"))
    assert result.returncode == 0, result.stderr
    assert imported(fake) == Counter(expect("a", 1, 30) | expect("b", 1, 15))
    assert "access.log.1: continues" in result.stderr


def test_copytruncate(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 20)
    run(fake, tmp_path, str(log))
    append(log, "a", 21, 5)
    shutil.copy(log, tmp_path / "access.log.1")
    log.write_text("")  # truncated in place: same inode, new content
    append(log, "b", 1, 8)
    result = run(fake, tmp_path, str(tmp_path / "access.log.1"), str(log))
    assert result.returncode == 0, result.stderr
    assert imported(fake) == Counter(expect("a", 1, 25) | expect("b", 1, 8))


def test_a_rotated_file_compressed_afterwards_is_not_imported_again(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 20)
    run(fake, tmp_path, str(log))
    append(log, "a", 21, 3)
    log.rename(tmp_path / "access.log.1")
    run(fake, tmp_path, str(tmp_path / "access.log.1"))
    with gzip.open(tmp_path / "access.log.2.gz", "wb") as f:
        f.write((tmp_path / "access.log.1").read_bytes())
    (tmp_path / "access.log.1").unlink()
    append(log, "b", 1, 4)
    result = run(fake, tmp_path, str(tmp_path / "access.log*"))
    assert result.returncode == 0, result.stderr
    assert imported(fake) == Counter(expect("a", 1, 23) | expect("b", 1, 4))
    assert "access.log.2.gz: no new lines, nothing to import" in result.stderr
    again = run(fake, tmp_path, str(tmp_path / "access.log*"))
    assert "access.log.2.gz: already imported, nothing to import" in again.stderr
    assert imported(fake) == Counter(expect("a", 1, 23) | expect("b", 1, 4))


def test_a_file_shorter_than_its_fingerprint(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 1)  # ~130 bytes, less than the 1 KiB fingerprint
    assert log.stat().st_size < 1024
    run(fake, tmp_path, str(log))
    append(log, "a", 2, 30)
    run(fake, tmp_path, str(log))
    append(log, "a", 32, 2)
    run(fake, tmp_path, str(log))
    assert imported(fake) == Counter(expect("a", 1, 33))


def test_an_unfinished_last_line_waits_for_the_next_run(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 10)
    whole = log_lines("a", 11, 1)
    with log.open("a") as f:
        f.write(whole[:40])  # the server is still writing this one
    run(fake, tmp_path, str(log))
    assert imported(fake) == Counter(expect("a", 1, 10))
    with log.open("a") as f:
        f.write(whole[40:])
    run(fake, tmp_path, str(log))
    assert imported(fake) == Counter(expect("a", 1, 11))


def test_outage_then_rerun_continues_with_nothing_lost_or_twice(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 200)
    # Three batches go through, then the fourth fails all of its three attempts.
    fake.fail_next("track", Fault(), Fault(), Fault(), *[Fault(status=503)] * 3)
    args = ("--recorder-max-payload-size=10", "--retry-max-attempts=3")
    first = run(fake, tmp_path, *args, str(log))
    assert first.returncode == 5
    assert "failed after 3 attempt(s)" in first.stderr
    assert 0 < len(fake.hits) < 200
    second = run(fake, tmp_path, *args, str(log))
    assert second.returncode == 0, second.stderr
    assert imported(fake) == Counter(expect("a", 1, 200))


def test_timeouts_429_and_drops_on_chosen_batches(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 120)
    fake.fail_next(
        "track",
        Fault(),
        Fault(status=429, headers={"Retry-After": "0"}),
        Fault(drop=True),
        Fault(),
        Fault(delay=1.0, status=503),
    )
    result = run(fake, tmp_path, "--recorder-max-payload-size=10", "--recorders=2", "--request-timeout=0.5", str(log))
    assert result.returncode == 0, result.stderr
    assert imported(fake) == Counter(expect("a", 1, 120))


def test_kill_9_at_seeded_points_loses_nothing_and_duplicates_at_most_what_was_in_flight(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    recorders, payload = 2, 5
    for point in range(20):
        work = tmp_path / f"k{point}"
        work.mkdir()
        log = work / "access.log"
        append(log, f"k{point}", 1, 300)
        with FakePiwikPro(track_delay=0.01) as fake:
            args = [
                *piwik_args(
                    fake,
                    f"--recorders={recorders}",
                    f"--recorder-max-payload-size={payload}",
                    f"--workers={1 + point % 2}",
                ),
                str(log),
            ]
            proc = start(args, work, output=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            before = len(fake.hits)
            again = run_cli(*args, cwd=work, env=SECRET_ENV)
            assert again.returncode in (0, 6), again.stderr  # 6: the killed run had finished
            counts = imported(fake)
        assert set(counts) == expect(f"k{point}", 1, 300), f"kill point {point}: lines lost"
        duplicates = sum(n - 1 for n in counts.values())
        assert duplicates <= recorders * payload, f"kill point {point} after {before} hits: {duplicates} twice"
        if duplicates:
            assert "may have been accepted without it knowing" in again.stderr


def test_a_second_run_waits_for_the_lock_then_gives_up(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 10)
    state = tmp_path / "state.json"
    with lock_held(Path(f"{state}.lock")):
        result = run(fake, tmp_path, f"--state-file={state}", "--lock-timeout=0.5", str(log))
    assert result.returncode == 75
    assert f"another import (pid 4242) is using the state file {state}; waited 0.5 s." in result.stderr
    assert fake.hits == []


def test_force_reimport_show_and_reset(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 10)
    run(fake, tmp_path, str(log))
    shown = run(fake, tmp_path, "--show-state", str(log))
    assert shown.returncode == 0
    assert f"{log}: next line 11 (byte {log.stat().st_size:,})" in shown.stdout
    run(fake, tmp_path, "--force-reimport", str(log))
    assert imported(fake) == Counter({k: 2 for k in expect("a", 1, 10)})
    reset = run(fake, tmp_path, "--reset-state", str(log))
    assert f"{log}: forgotten (was imported up to line 10); the next run imports it again" in reset.stdout
    run(fake, tmp_path, str(log))
    assert imported(fake) == Counter({k: 3 for k in expect("a", 1, 10)})


def test_skip_counts_per_file(fake: FakePiwikPro, tmp_path: Path) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    append(one, "a", 1, 10)
    append(two, "b", 1, 10)
    result = run(fake, tmp_path, "--no-state", "--skip=4", str(one), str(two))
    assert result.returncode == 0, result.stderr
    assert imported(fake) == Counter(expect("a", 5, 6) | expect("b", 5, 6))


def test_cron_loop_with_a_rotation_in_the_middle(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    written: set[str] = set()
    generation = 0
    for run_number in range(50):
        first = run_number * 1000 + 1
        append(log, f"g{generation}", first, 1000)
        written |= expect(f"g{generation}", first, 1000)
        if run_number == 25:  # logrotate: rename, compress later, start a new file
            log.rename(tmp_path / "access.log.1")
            generation += 1
        result = run(fake, tmp_path, "--recorder-max-payload-size=200", str(tmp_path / "access.log*"))
        assert result.returncode == 0, result.stderr
        if run_number == 30:
            with gzip.open(tmp_path / "access.log.2.gz", "wb") as f:
                f.write((tmp_path / "access.log.1").read_bytes())
            (tmp_path / "access.log.1").unlink()
    counts = imported(fake)
    assert set(counts) == written and set(counts.values()) == {1}


@pytest.mark.parametrize("mode", ["state", "dry-run"])
def test_dry_run_reads_the_state_but_never_writes_it(fake: FakePiwikPro, tmp_path: Path, mode: str) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 10)
    if mode == "state":
        run(fake, tmp_path, str(log))
    append(log, "a", 11, 5)
    state_dir = Path(os.environ["IMPORT_LOGS_STATE_DIR"])
    before = {p.name: p.read_bytes() for p in state_dir.glob("*.json")}
    result = run(fake, tmp_path, "--dry-run", str(log))
    assert result.returncode == 0
    assert f"{5 if mode == 'state' else 15} requests kept by the filters (dry run" in result.stdout
    assert {p.name: p.read_bytes() for p in state_dir.glob("*.json")} == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_import_saves_its_place(tmp_path: Path, signum: int) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 400)
    with FakePiwikPro(track_delay=0.02) as fake:
        args = [*piwik_args(fake, "--recorders=2", "--recorder-max-payload-size=5"), str(log)]
        proc = start(args, tmp_path, output=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while len(fake.hits) < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode in (130, 143), err
        stopped_at = len(fake.hits)
        again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode in (0, 6), again.stderr
        counts = imported(fake)
    assert 0 < stopped_at < 400
    assert set(counts) == expect("a", 1, 400)
    assert sum(n - 1 for n in counts.values()) <= 2 * 5
    assert "Logs import summary" in out
    assert "lines skipped as already imported" in again.stdout
    assert " 0 lines skipped as already imported" not in again.stdout
