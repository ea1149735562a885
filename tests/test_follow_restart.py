"""--follow stopped and started again around rotations: the rest of every rotated file is read first (#22).

A service that never had a hit accepted keeps its place at offset 0: that place is still a place. The log may be
rotated while the service is stopped (by rename, by copytruncate, compressed later, even twice), and the
service may have been stopped by SIGTERM or killed. Each case is counted at the server: every line once
(after kill -9, at most the hits announced as maybe accepted twice)."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_server import FakePiwikPro, Fault
from test_follow import Log, all_once, exactly_once, start, stop, wait_for


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    written = Log(tmp_path / "access.log")
    yield written
    written.handle.close()


ROTATIONS = ("rename", "copytruncate", "rename-then-gzip", "copytruncate-then-gzip", "rename-twice")


def rotate(how: str, log: Log) -> None:
    """What logrotate does while the service is stopped; the server writes on meanwhile."""
    path = log.path
    first = path.with_name("access.log.1")
    if how.startswith("rename"):
        path.rename(first)
        log.reopen()
    else:
        shutil.copyfile(path, first)
        os.truncate(path, 0)
    log.write(17)
    if how.endswith("gzip"):
        with open(first, "rb") as src, gzip.open(str(first) + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        first.unlink()
    if how == "rename-twice":  # a whole log created and rotated while no run was up
        first.rename(path.with_name("access.log.2"))
        path.rename(first)
        log.reopen()
        log.write(9)


def kill(proc: subprocess.Popen[str], how: str) -> None:
    if how == "sigterm":
        stop(proc)
        return
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=20)


@pytest.mark.parametrize("stopped_by", ["sigterm", "kill-9"])
@pytest.mark.parametrize("how", ROTATIONS)
def test_a_restart_after_a_rotation_reads_the_rest_of_a_file_with_nothing_accepted(
    log: Log, tmp_path: Path, how: str, stopped_by: str
) -> None:
    """The tracker refused everything of the first run: its entry is at offset 0, and the rest is all of it."""
    log.write(60)
    with FakePiwikPro() as fake:
        fake.fail_next("track", *[Fault(status=503)] * 10_000)
        proc = start(fake, tmp_path, str(log.path), extra=("--retry-delay=0.05",))
        time.sleep(1.5)
        log.write(20)
        time.sleep(0.5)
        kill(proc, stopped_by)
        assert not fake.hits
        with fake.lock:
            fake.faults["track"].clear()
        rotate(how, log)
        proc = start(fake, tmp_path, str(log.path))
        try:
            wait_for(all_once(fake, log.written), f"every line after {stopped_by} and {how}", timeout=30)
            time.sleep(0.5)  # nothing more comes
        finally:
            _, err = stop(proc)
        exactly_once(fake, log)
        assert "the rest of" in err


@pytest.mark.parametrize("how", ROTATIONS)
def test_a_restart_after_a_rotation_reads_the_rest_after_some_was_accepted(log: Log, tmp_path: Path, how: str) -> None:
    log.write(60)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(log.path))
        wait_for(all_once(fake, 60), "the first lines")
        fake.fail_next("track", *[Fault(status=503)] * 10_000)
        log.write(30)
        time.sleep(0.8)
        stop(proc)
        with fake.lock:
            fake.faults["track"].clear()
        rotate(how, log)
        proc = start(fake, tmp_path, str(log.path))
        try:
            wait_for(all_once(fake, log.written), f"every line after {how}", timeout=30)
            time.sleep(0.5)
        finally:
            stop(proc)
        exactly_once(fake, log)


def test_copytruncate_regrowing_past_the_old_place_within_one_look(log: Log, tmp_path: Path) -> None:
    """100 lines read; 5 more, copytruncate and 300 new, all between two looks: the copy's rest is read, and the
    new content from its start."""
    log.write(100)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(log.path), extra=("--follow-poll=1.5",))
        try:
            wait_for(all_once(fake, 100), "the first lines")
            time.sleep(0.2)
            log.write(5)
            shutil.copyfile(log.path, tmp_path / "access.log.1")
            os.truncate(log.path, 0)
            log.write(300)
            wait_for(all_once(fake, log.written), "the rest of the copy and the new content", timeout=20)
            time.sleep(2)
        finally:
            _, err = stop(proc)
        exactly_once(fake, log)
        assert "truncated (copytruncate)" in err


def test_a_start_in_the_rename_to_reopen_gap_waits_for_the_log(log: Log, tmp_path: Path) -> None:
    """logrotate renamed the log and the server has not created it again yet."""
    log.write(10)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(log.path))
        wait_for(all_once(fake, 10), "the first lines")
        stop(proc)
        log.write(4)
        log.path.rename(tmp_path / "access.log.1")
        proc = start(fake, tmp_path, str(log.path))
        try:
            time.sleep(1.0)
            assert proc.poll() is None, proc.communicate()[1]
            log.reopen()
            log.write(6)
            wait_for(all_once(fake, log.written), "the rest of the old log and the new one", timeout=20)
        finally:
            _, err = stop(proc)
        exactly_once(fake, log)
        assert "access.log: not there (rotated?); waiting up to" in err


def test_a_log_that_does_not_come_back_is_waited_for_with_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from import_logs.sources import restart as follow

    monkeypatch.setattr(follow, "REAPPEAR_WAIT", 0.3)
    (tmp_path / "access.log.1").write_text("x\n")
    said: list[str] = []
    started = time.monotonic()
    follow.await_logs([str(tmp_path / "access.log")], 0.05, threading.Event(), lambda e: said.append(str(e)))
    assert 0.3 <= time.monotonic() - started < 5
    assert len(said) == 1 and "waiting up to" in said[0]
    said.clear()
    follow.await_logs([str(tmp_path / "other.log")], 0.05, threading.Event(), lambda e: said.append(str(e)))
    assert not said  # no rotated copy beside it: a wrong name, named at once as missing


def test_a_copy_compressed_as_a_restart_looks_at_it_is_read_under_its_new_name(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The campaign's crash: logrotate compressed access.log.1 (and removed it) while the starting run found it."""
    import threading

    from import_logs.config import BackendOptions, Config, FollowOptions, StateOptions
    from import_logs.errors import Interrupted
    from import_logs.pipeline import Importer, plan

    out = tmp_path / "requests.jsonl"

    def run_for(seconds: float) -> list[int]:
        config = Config(
            inputs=(str(log.path),),
            workers=1,
            save_requests=str(out),
            backend=BackendOptions(idsite="app"),
            state=StateOptions(path=str(tmp_path / "state.json")),
            follow=FollowOptions(enabled=True, poll=0.05, flush_interval=0.05),
        )
        importer = Importer(config)
        timer = threading.Timer(seconds, importer.interrupt, args=(15,))
        timer.start()
        with pytest.raises(Interrupted):
            importer.run()
        timer.cancel()
        return [int(line.split("/p/")[1].split('"')[0]) for line in out.read_text().splitlines()]

    log.write(30)
    first = run_for(0.6)
    log.write(5)
    log.path.rename(tmp_path / "access.log.1")
    log.reopen()
    log.write(3)
    found = plan.unfinished_copies

    def compressed_meanwhile(path: str, state: object) -> list[str]:
        copies = found(path, state)  # type: ignore[arg-type]
        plain = tmp_path / "access.log.1"
        if plain.exists():
            with open(plain, "rb") as src, gzip.open(str(plain) + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            plain.unlink()
        return copies

    monkeypatch.setattr(plan, "unfinished_copies", compressed_meanwhile)
    second = run_for(1.0)
    if second[: len(first)] == first:  # the file written on, not again
        second = second[len(first) :]
    assert sorted(first + second) == list(range(38))


def test_a_followed_log_whose_first_line_is_longer_than_the_head_is_read(log: Log, tmp_path: Path) -> None:
    """A first request of 100 KB (a huge query string): detection passes over it and decides on the next lines."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    with open(log.path, "w") as f:
        f.write(f'10.0.0.9 - - [{stamp}] "GET /long?q={"x" * 100_000} HTTP/1.1" 200 5 "-" "Mozilla/5.0"\n')
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(log.path))
        try:
            time.sleep(0.5)
            log.write(5)
            wait_for(lambda: len(fake.hits) >= 6, "the long line and the lines after it", timeout=20)
        finally:
            stop(proc)
        assert sorted(h["url"].rsplit("/", 1)[1][:6] for h in fake.hits) == ["0", "1", "2", "3", "4", "long?q"]
