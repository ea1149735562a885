"""The parts of reading that only had end-to-end tests, in this process (#27): logrotate's names, planning one
source into jobs and resuming it, the order of several logs' jobs, and the follower against a model of what a
web server and logrotate do to a directory."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from import_logs.backends import EncodeSpec
from import_logs.checkpoint.state import StateFile
from import_logs.config import BackendOptions, Config, FollowOptions
from import_logs.events import Notice
from import_logs.pipeline.order import logs_of, side_by_side
from import_logs.pipeline.plan import Planner
from import_logs.pipeline.worker import process_block
from import_logs.sources.files import Block, resolve_inputs
from import_logs.sources.kinds import FileSource, ObjectSource, Source
from import_logs.sources.marks import Control, Ended
from import_logs.sources.objects import ObjectRef, key_time
from import_logs.sources.rotation import is_live, oldest_first, rotated_copies, rotation
from import_logs.stats import Stats

LINE = '10.0.0.{ip} - - [10/Feb/2024:16:42:{s:02d} +0000] "GET /p/{n} HTTP/1.1" 200 5 "-" "Mozilla/5.0"\n'


def lines(first: int, count: int) -> str:
    return "".join(LINE.format(ip=n % 7, s=n % 60, n=n) for n in range(first, first + count))


# --- logrotate's names -------------------------------------------------------------------------------------


def test_rotation_names_the_log_and_the_age_of_each_copy() -> None:
    assert rotation("/l/access.log") == ("/l/access.log", (2, 0))
    assert rotation("/l/access.log.1") == ("/l/access.log", (1, -1))
    assert rotation("/l/access.log.12.gz") == ("/l/access.log", (1, -12))
    assert rotation("/l/access.log-20261129.gz") == ("/l/access.log", (0, 20261129))
    assert rotation("/l/access.log.2026-11-29") == ("/l/access.log", (0, 20261129))
    assert is_live("/l/access.log") and not is_live("/l/access.log.1") and not is_live("/l/access.log.gz")


def test_oldest_first_and_the_copies_beside_a_live_log(tmp_path: Path) -> None:
    names = ["access.log", "access.log.1", "access.log.2.gz", "access.log.10.gz", "other.log", "other.log.1"]
    for name in names:
        (tmp_path / name).write_text("x\\n")
    paths = [str(tmp_path / n) for n in names]
    ordered = [os.path.basename(p) for p in oldest_first(sorted(paths))]
    assert ordered == ["access.log.10.gz", "access.log.2.gz", "access.log.1", "access.log", "other.log.1", "other.log"]
    copies = [os.path.basename(p) for p in rotated_copies(str(tmp_path / "access.log"))]
    assert copies == ["access.log.10.gz", "access.log.2.gz", "access.log.1"]


# --- planning a source -------------------------------------------------------------------------------------


def plan(tmp_path: Path, *inputs: str, state: StateFile | None = None) -> tuple[list[int], list[str]]:
    """Plan ``inputs`` and run their jobs here: the page numbers of the hits, and the notices."""
    config = Config(inputs=inputs, workers=1, backend=BackendOptions(idsite="1"), block_size=256)
    said: list[str] = []
    planner = Planner(
        config,
        Stats(),
        lambda e: said.append(e.message) if isinstance(e, Notice) else None,
        state=state,
        ledger=None,
        spec=EncodeSpec("piwikpro", "1", "https://www.example.com"),
    )
    pages = []
    for job in planner.jobs(resolve_inputs(list(inputs)), None):
        if isinstance(job, Control):
            continue
        result = process_block(*job)
        pages += [int(item.split("/p/")[1].split('"')[0]) for item in result.hits.items]
    return pages, said


def test_a_source_is_planned_into_blocks_and_resumed_where_its_state_says(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(lines(0, 30))
    assert plan(tmp_path, str(log))[0] == list(range(30))  # blocks of 256 bytes: several of them, in order
    with StateFile(str(tmp_path / "state.json"), "test") as state:
        entry = state.add(log.read_bytes()[:1024], str(log), compressed=False)
        state.update(entry, offset=len(lines(0, 12)), line=12)
        pages, _ = plan(tmp_path, str(log), state=state)
    assert pages == list(range(12, 30))


def test_a_gzipped_copy_is_resumed_where_the_plain_file_stopped(tmp_path: Path) -> None:
    text = lines(0, 20)
    copy = tmp_path / "access.log.1.gz"
    copy.write_bytes(gzip.compress(text.encode()))
    with StateFile(str(tmp_path / "state.json"), "test") as state:
        entry = state.add(text.encode()[:1024], str(tmp_path / "access.log"), compressed=False)
        state.update(entry, offset=len(lines(0, 5)), line=5)
        pages, said = plan(tmp_path, str(copy), state=state)
    assert pages == list(range(5, 20))
    assert any("continues" in s for s in said)


# --- the order of several logs' jobs -------------------------------------------------------------------------


def test_side_by_side_reads_a_logs_files_in_turn_and_the_logs_as_the_merge_asks() -> None:
    sources = [
        FileSource(0, "/l/a.log.1", "/l/a.log.1", None, 1),
        FileSource(1, "/l/a.log", "/l/a.log", None, 1),
        FileSource(2, "/l/b.log", "/l/b.log", None, 1),
    ]
    opened: list[int] = []
    wanted: deque[int] = deque([2, 0, 2, 1, 2])

    def jobs_of(source: Source) -> deque[str]:
        return deque([f"{source.index}.{k}" for k in range(2)])

    def waiting_for() -> int | None:
        return wanted.popleft() if wanted else None

    order = list(side_by_side(logs_of(sources), lambda s: iter(jobs_of(s)), waiting_for, opened.append, 16))
    assert opened == [0, 2, 1]  # a.log after a.log.1 ended; b.log beside them
    assert order == ["2.0", "0.0", "2.1", "0.1", "1.0", "1.1"]


def test_objects_of_one_period_are_opened_together_up_to_a_bound() -> None:
    """A CDN's objects of one hour (its key says which) are read side by side beyond the usual width, so that none
    opens after the merge has sent the hits it should have gone among; the next hour's wait for room."""
    hours = [10, 10, 10, 10, 10, 10, 11, 11]
    ref = ObjectRef
    sources = [ObjectSource(k, f"s3://b/E.{h}.{k}", ref(f"s3://b/E.{h}.{k}", f"E.{h}.{k}", 1, "e", None), 1)
               for k, h in enumerate(hours)]  # fmt: skip
    opened: list[int] = []

    def jobs_of(source: Source) -> Iterator[str]:
        return iter([f"{source.index}.0", f"{source.index}.1"])

    def period(source: Source) -> float | None:
        assert isinstance(source, ObjectSource)
        return float(source.ref.key.split(".")[1])

    chains = [deque([s]) for s in sources]
    order = list(side_by_side(chains, jobs_of, lambda: None, opened.append, 2, period=period, most=5))
    assert opened[:5] == [0, 1, 2, 3, 4]  # hour 10: five at once (the bound), not two
    assert order[:5] == ["0.0", "0.1", "1.0", "1.1", "2.0"]
    assert sorted(opened) == list(range(8)) and len(order) == 16
    # Without periods, two at a time, as files of several logs are.
    opened.clear()
    list(side_by_side([deque([s]) for s in sources], jobs_of, lambda: None, opened.append, 2))
    assert opened == list(range(8))


def test_a_key_gives_its_objects_time() -> None:
    def at(*parts: int) -> float:
        return datetime(*parts, tzinfo=timezone.utc).timestamp()

    assert key_time("cloudfront/E2ABC.2026-11-29-10.1a2b3c.gz") == at(2026, 11, 29, 10)
    alb = "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/11/29/123456789012_elasticloadbalancing_" \
          "us-east-2_app.web.1234567890abcdef_20261129T1005Z_203.0.113.5_2ab3.log.gz"  # fmt: skip
    assert key_time(alb) == at(2026, 11, 29, 10, 5)
    assert key_time("logpush/20261129/20261129T100000Z_20261129T100500Z_abcd.log.gz") == at(2026, 11, 29, 10)
    assert key_time("logs/access.log.gz") is None
    assert key_time("logs/2026-13-45.gz") is None


# --- the follower, against a model of a directory ------------------------------------------------------------

ACTIONS = st.lists(st.sampled_from(["write", "write", "write", "rename", "copytruncate", "gzip", "poll"]), max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, seed=st.integers(0, 1000))
# Found by this test: a log written, copytruncated and written again past its old size before the follower read a
# line of it (its copy's lines were lost: the follower saw only a log that grew).
@example(actions=["write", "copytruncate", "write"], seed=1)
def test_the_follower_reads_every_line_once_whatever_logrotate_does(
    tmp_path: Path, actions: list[str], seed: int
) -> None:
    """Each step writes lines, rotates (rename and reopen, copytruncate) or compresses the newest copy; the
    follower looks after some steps (so a truncated log may grow past the place read before it looks again).
    Every line written is read exactly once (copytruncate loses nothing here: no line is written between the copy
    and the truncation, as logrotate can)."""
    work = tmp_path / f"run-{seed}-{len(actions)}-{time.monotonic_ns()}"
    work.mkdir()
    log = work / "access.log"
    log.write_text("")
    rng = random.Random(seed)
    config = Config(
        inputs=(str(log),),
        workers=1,
        backend=BackendOptions(idsite="1"),
        follow=FollowOptions(enabled=True, poll=0.01, rotate_grace=0.0),
        block_size=512,
    )
    planner = Planner(
        config,
        Stats(),
        lambda e: None,
        state=None,
        ledger=None,
        spec=EncodeSpec("piwikpro", "1", "https://www.example.com"),
    )
    planner.stop = threading.Event()
    jobs = planner.jobs(resolve_inputs([str(log)]), None)
    read: list[int] = []
    written = 0
    copies = 0

    def look() -> None:
        """Run the follower until it asks to wait (a tick)."""
        for job in jobs:
            if isinstance(job, Control):
                if not isinstance(job, Ended):
                    return
                continue
            ctx, block = job
            assert isinstance(block, Block)
            read.extend(int(item.split("/p/")[1].split('"')[0]) for item in process_block(ctx, block).hits.items)

    look()
    rotated = False  # since the last look: at most one rotation between two looks (logrotate runs daily)
    for action in [*actions, "poll", "poll"]:
        if action in ("rename", "copytruncate") and rotated:
            look()
        rotated = rotated or action in ("rename", "copytruncate")
        if action == "write":
            count = rng.randrange(1, 15)
            with log.open("a") as f:
                f.write(lines(written, count))
            written += count
        elif action == "rename":
            copies += 1
            for k in range(copies, 1, -1):  # access.log.N → .N+1 (compressed ones keep their suffix)
                for suffix in ("", ".gz"):
                    old = work / f"access.log.{k - 1}{suffix}"
                    if old.exists():
                        old.rename(work / f"access.log.{k}{suffix}")
            log.rename(work / "access.log.1")
            log.write_text("")
        elif action == "copytruncate":
            copies += 1
            for k in range(copies, 1, -1):
                for suffix in ("", ".gz"):
                    old = work / f"access.log.{k - 1}{suffix}"
                    if old.exists():
                        old.rename(work / f"access.log.{k}{suffix}")
            shutil.copyfile(log, work / "access.log.1")
            os.truncate(log, 0)
        elif action == "gzip":
            newest = work / "access.log.1"
            if newest.exists():
                with open(newest, "rb") as src, gzip.open(str(newest) + ".gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                newest.unlink()
        time.sleep(0.002)
        if action == "poll" or rng.random() < 0.4:  # else the next step comes before the follower looks again
            look()
            rotated = False
    planner.stop.set()
    jobs.close()
    assert sorted(read) == list(range(written)), f"missing {set(range(written)) - set(read)}"
    assert len(read) == written, "a line read twice"
