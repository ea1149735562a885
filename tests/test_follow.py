"""--follow: the real command as a service, following a log that is written to, rotated every way logrotate
does, served by a server that fails for a while, stopped by SIGTERM and started again — every line exactly once."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import SECRET_ENV, piwik_args
from fake_server import FakePiwikPro, Fault

FOLLOW = ["--follow", "--follow-poll=0.1", "--flush-interval=0.2", "--workers=2"]


class Log:
    """A web server writing numbered lines (each its own page, so every line is one countable hit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self.handle = open(path, "a")  # noqa: SIM115 - the writer's open file, as a server keeps it

    def write(self, count: int) -> None:
        stamp = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        for _ in range(count):
            n = self.written
            self.handle.write(f'10.0.0.{n % 7} - - [{stamp}] "GET /p/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')
            self.written += 1
        self.handle.flush()

    def reopen(self) -> None:
        """The server reopens its log at the path (after logrotate's postrotate)."""
        self.handle.close()
        self.handle = open(self.path, "a")  # noqa: SIM115


def pages(fake: FakePiwikPro) -> Counter[int]:
    with fake.lock:
        return Counter(int(hit["url"].rsplit("/", 1)[1]) for hit in fake.hits)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def all_once(fake: FakePiwikPro, count: int) -> Callable[[], bool]:
    return lambda: sum(pages(fake).values()) >= count


def start(fake: FakePiwikPro, cwd: Path, *inputs: str, extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "import_logs", *piwik_args(fake, *FOLLOW, *extra), *inputs],
        cwd=cwd,
        env={**os.environ, **SECRET_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)  # a bound against hangs
    assert proc.returncode == 143, err
    return out, err


def exactly_once(fake: FakePiwikPro, log: Log) -> None:
    seen = pages(fake)
    assert sorted(seen) == list(range(log.written)), f"missing: {set(range(log.written)) - set(seen)}"
    assert max(seen.values()) == 1, f"twice: {[n for n, c in seen.items() if c > 1]}"


def test_rotations_an_outage_and_a_restart_send_every_line_once(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Log(path)
    log.write(300)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(path))
        try:
            wait_for(all_once(fake, 300), "the lines already there")
            log.write(25)  # fewer than a batch: sent after --flush-interval
            wait_for(all_once(fake, 325), "a partial batch")

            # logrotate's rename (create): the server writes on to the renamed file until it reopens its log
            log.write(10)
            path.rename(tmp_path / "access.log.1")
            log.write(5)
            time.sleep(0.3)
            log.reopen()
            log.write(40)
            wait_for(all_once(fake, 380), "the rest of the renamed file and the new file")

            # ... and compresses it later (delaycompress): the old file is already read to its end
            with open(tmp_path / "access.log.1", "rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(tmp_path / "access.log.1")

            # copytruncate: lines written just before the copy may be in the copy only
            log.write(30)
            shutil.copyfile(path, tmp_path / "access.log.1")
            os.truncate(path, 0)
            log.write(20)
            wait_for(all_once(fake, 430), "the rest of the copy and the truncated file")

            # an outage: the server answers 503 for a while; nothing is lost, nothing exits
            fake.fail_next("track", *[Fault(status=503)] * 6)
            log.write(50)
            wait_for(all_once(fake, 480), "the lines written during the outage")
            assert proc.poll() is None
        finally:
            out, err = stop(proc)
        exactly_once(fake, log)
        assert "Logs import summary" in out

        # stopped: the log is written to and rotated by rename meanwhile; the service starts again
        log.write(15)
        os.replace(tmp_path / "access.log.1", tmp_path / "access.log.2")
        path.rename(tmp_path / "access.log.1")
        log.reopen()
        log.write(12)
        proc = start(fake, tmp_path, str(path))
        try:
            wait_for(all_once(fake, log.written), "the rest of the rotated file and the new file after a restart")
            time.sleep(0.5)  # nothing more comes
        finally:
            out, err = stop(proc)
        exactly_once(fake, log)
        assert "access.log.1: the rest of" in err
    log.handle.close()


def test_sigterm_while_the_server_is_down_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Log(path)
    log.write(40)
    with FakePiwikPro() as fake:
        fake.fail_next("track", *[Fault(status=503)] * 1000)
        proc = start(fake, tmp_path, str(path), extra=("--retry-delay=0.05",))
        time.sleep(1.5)
        _, err = stop(proc)
        assert not fake.hits
        assert "until the server answers" in err
        with fake.lock:
            fake.faults["track"].clear()
        log.write(10)
        proc = start(fake, tmp_path, str(path))
        try:
            wait_for(all_once(fake, 50), "every line after the outage")
            time.sleep(0.3)
        finally:
            stop(proc)
        exactly_once(fake, log)
    log.handle.close()


def test_a_new_file_matching_the_pattern_is_followed(tmp_path: Path) -> None:
    first = Log(tmp_path / "a.log")
    first.write(5)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(tmp_path / "*.log"))
        try:
            wait_for(all_once(fake, 5), "the first file")
            second = Log(tmp_path / "b.log")
            second.written = 1000  # its own page numbers
            second.write(7)
            wait_for(all_once(fake, 12), "the new file")
        finally:
            _, err = stop(proc)
        assert "b.log: a new file matches" in err
        assert sorted(pages(fake)) == [*range(5), *range(1000, 1007)]
    first.handle.close()
    second.handle.close()


def test_standard_input_is_sent_as_it_comes(tmp_path: Path) -> None:
    stamp = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    line = '10.0.0.1 - - [{}] "GET /p/{} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
    with FakePiwikPro() as fake:
        proc = subprocess.Popen(
            [sys.executable, "-m", "import_logs", *piwik_args(fake, *FOLLOW), "-"],
            cwd=tmp_path,
            env={**os.environ, **SECRET_ENV},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        try:
            for n in range(3):
                proc.stdin.write(line.format(stamp, n))
            proc.stdin.flush()
            wait_for(all_once(fake, 3), "lines of a pipe that is still open")
            _, err = proc.communicate(input=line.format(stamp, 3), timeout=20)  # then standard input ends
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        assert sorted(pages(fake)) == [0, 1, 2, 3]
        assert "no place in the state" in err


def test_standard_input_and_files_cannot_both_be_followed(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("")
    with FakePiwikPro() as fake:
        result = subprocess.run(
            [sys.executable, "-m", "import_logs", *piwik_args(fake, *FOLLOW), "-", "a.log"],
            cwd=tmp_path,
            env={**os.environ, **SECRET_ENV},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )
    assert result.returncode == 2, result.stderr
    assert "Follow standard input alone, or the files alone" in result.stderr


@pytest.mark.parametrize("empty_first", [True, False])
def test_a_file_that_starts_empty_is_followed(tmp_path: Path, empty_first: bool) -> None:
    path = tmp_path / "access.log"
    log = Log(path)
    if not empty_first:
        log.write(1)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(path))
        try:
            time.sleep(0.3)
            log.write(3)
            wait_for(all_once(fake, log.written), "the lines of a file that was empty")
        finally:
            stop(proc)
        exactly_once(fake, log)
    log.handle.close()


def test_in_process_through_rotations_and_a_stop(tmp_path: Path) -> None:
    """The same service in this process (one worker), its requests written to a file: rename, a late gzip,
    copytruncate, a file that starts empty, a pattern that gains a log; stopped as SIGTERM does."""
    import json
    import threading

    from import_logs.config import BackendOptions, Config, FollowOptions, StateOptions
    from import_logs.errors import Interrupted
    from import_logs.pipeline import Importer

    path = tmp_path / "access.log"
    log = Log(path)
    log.write(30)
    out = tmp_path / "out.jsonl"
    config = Config(
        inputs=(str(tmp_path / "*.log"),),
        workers=1,
        backend=BackendOptions(idsite="app", payload_size=10),
        save_requests=str(out),
        state=StateOptions(path=str(tmp_path / "state.json")),
        follow=FollowOptions(enabled=True, flush_interval=0.05, poll=0.05, rotate_grace=0.3),
        block_size=512,
    )
    importer = Importer(config)
    ended: list[BaseException] = []

    def run() -> None:
        try:
            importer.run()
        except BaseException as exc:
            ended.append(exc)

    def sent() -> Counter[int]:
        text = out.read_text() if out.exists() else ""
        return Counter(int(json.loads(line)["url"].rsplit("/", 1)[1]) for line in text.splitlines())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: sum(sent().values()) >= 30, "the lines already there")
        log.write(5)
        wait_for(lambda: sum(sent().values()) >= 35, "a partial batch")
        log.write(4)
        path.rename(tmp_path / "access.log.1")
        log.write(3)  # still written to the renamed file
        time.sleep(0.1)
        log.reopen()
        wait_for(lambda: sum(sent().values()) >= 42, "the rest of the renamed file")
        log.write(6)
        wait_for(lambda: sum(sent().values()) >= 48, "the new file")
        with open(tmp_path / "access.log.1", "rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(tmp_path / "access.log.1")
        log.write(7)
        shutil.copyfile(path, tmp_path / "access.log.1")
        os.truncate(path, 0)
        log.write(2)
        wait_for(lambda: sum(sent().values()) >= 57, "the copy's rest and the truncated file")
        other = Log(tmp_path / "other.log")
        other.written = 1000
        other.write(3)
        wait_for(lambda: sum(sent().values()) >= 60, "a new log matching the pattern")
    finally:
        importer.interrupt(signal.SIGTERM)
        thread.join(20)
    assert not thread.is_alive()
    assert len(ended) == 1 and isinstance(ended[0], Interrupted)
    seen = sent()
    assert sorted(seen) == [*range(log.written), 1000, 1001, 1002]
    assert max(seen.values()) == 1
    assert importer.stats.lines == 60
    log.handle.close()
    other.handle.close()


def test_growing_blocks_give_whole_lines_as_they_come_and_tick_when_idle() -> None:
    import threading

    from import_logs.sources.growing import growing_blocks

    read_end, write_end = os.pipe()
    stop = threading.Event()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        blocks = growing_blocks(stream, 1 << 16, 0.05, stop)
        os.write(write_end, b"one\ntw")
        got = next(b for b in blocks if b[1])
        assert got == (0, b"one\n")
        assert next(blocks) == (4, b"")  # nothing new within a poll: a tick
        os.write(write_end, b"o\nthree")
        assert next(b for b in blocks if b[1]) == (4, b"two\n")
        os.close(write_end)
        assert [b for b in blocks if b[1]] == [(8, b"three")]  # the end: the unfinished line too


def test_a_compressed_copy_named_with_a_followed_log_is_read_once_and_done(tmp_path: Path) -> None:
    import json
    import threading

    from import_logs.config import BackendOptions, Config, FollowOptions, StateOptions
    from import_logs.errors import Interrupted
    from import_logs.pipeline import Importer

    old = Log(tmp_path / "access.log.2")
    old.write(4)
    old.handle.close()
    with open(old.path, "rb") as src, gzip.open(tmp_path / "access.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(old.path)
    live = Log(tmp_path / "access.log")
    live.written = 100
    live.write(3)
    out = tmp_path / "out.jsonl"
    config = Config(
        inputs=(str(tmp_path / "access.log.2.gz"), str(live.path)),
        workers=1,
        backend=BackendOptions(idsite="app"),
        save_requests=str(out),
        state=StateOptions(path=str(tmp_path / "state.json")),
        follow=FollowOptions(enabled=True, flush_interval=0.05, poll=0.05),
    )
    importer = Importer(config)

    def run() -> None:
        with pytest.raises(Interrupted):
            importer.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 7, "both files")
    importer.interrupt(signal.SIGTERM)
    thread.join(20)
    assert not thread.is_alive()
    sources = json.loads((tmp_path / "state.json").read_text())["sources"]
    assert [s["done"] for s in sources if s["path"].endswith(".gz")] == [True]
    live.handle.close()
