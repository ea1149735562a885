"""The state file's size and the cost of one snapshot (#26 item 5, #23 item 5).

    python bench/state_size.py
    python bench/state_size.py --objects 1000 10000 --files 2 8 --lines 5000

1. A listed bucket of N objects (1,000 / 10,000 / 100,000; one every 5 minutes, as an ALB node writes them, so
   100,000 is about a year), every one imported: the old form (an entry per object, what version 1 kept and
   rewrote at each snapshot) against the compact form (the objects of the last day, or of two days just before
   the daily whole listing, plus one mark). The state is built through the state file's own code and a walk of
   the listing, as a run builds it; a snapshot is ``StateFile.save`` (JSON, write, fsync, rename): CPU ms each
   (the median of several) and the file's bytes. "list requests" is what a cron run asks S3 for (1,000 keys a
   page): the whole pattern, or the keys after the mark.
2. A run merging N local files (2, 8, 64, 512: one log split at random over N files, the same lines whatever
   N), through the importer in this process with the state on and --save-requests (nothing sent): every
   snapshot the run takes is timed and its bytes read, to show that the state grows with the sources (one
   entry each) and with nothing else of the merge (the hold windows, the lateness).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_logs.checkpoint.fold import Walk  # noqa: E402
from import_logs.checkpoint.state import StateFile  # noqa: E402
from import_logs.sources.objects import key_matcher  # noqa: E402

PATTERN = "s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/**/*.log.gz"
EVERY = 300.0
DAY = 86400.0


def identity_of(key: str) -> str:
    """An object's identity as the planner gives it: URL, ETag, size."""
    return f"s3://logs/{key}\0{hashlib.md5(key.encode()).hexdigest()}\0{20000 + len(key)}"


def timed_saves(state: StateFile, repeat: int) -> tuple[float, int]:
    """The median CPU ms of a snapshot, and the file's bytes."""
    costs = []
    for _ in range(repeat):
        started = time.process_time()
        state.save(clean=True)
        costs.append((time.process_time() - started) * 1000)
    return statistics.median(costs), Path(state.path).stat().st_size


def bucket_state(work: Path, count: int, *, compact: bool, extra_days: float, repeat: int) -> tuple[float, int, int]:
    """A state for ``count`` objects imported, one every 5 minutes up to now: (CPU ms, bytes, entries)."""
    now = time.time()
    first = now - count * EVERY
    keys = [
        (
            f"AWSLogs/123456789012/elasticloadbalancing/eu-west-1/{time.strftime('%Y/%m/%d', time.gmtime(t))}/"
            f"123456789012_elasticloadbalancing_eu-west-1_app.web.50dc6c495c0c9188_"
            f"{time.strftime('%Y%m%dT%H%MZ', time.gmtime(t))}_10.0.1.17_{n:08x}.log.gz",
            t,
        )
        for n, t in ((n, first + n * EVERY) for n in range(count))
    ]
    path = work / f"bucket-{count}-{compact}-{extra_days}.json"
    state = StateFile(str(path), "https://analytics.example.com#site-1", lock_timeout=0)
    with state:

        def imported(since: float, upto: float) -> None:
            for key, t in keys:
                if t > upto:
                    break
                if t <= since:
                    continue
                url = f"s3://logs/{key}"
                identity = identity_of(key)
                entry = state.object_entry(identity) or state.add_object(identity, url)
                if not entry.done:
                    state.update(entry, done=True, offset=20000 + len(key), line=80, size=20000 + len(key))

        def walk(at: float) -> None:
            w = Walk(state, PATTERN, lambda p: key_matcher(p)[1], settle=DAY, now=at)
            for key, t in keys:
                if t <= at:
                    w.done(key, identity_of(key), t)
            w.finish()

        if compact:
            # The daily whole listing folded what was a day old; then runs added what came until now.
            imported(0, now - extra_days * DAY)
            walk(now - extra_days * DAY)
            imported(now - extra_days * DAY, now)
        else:
            imported(0, now)
        cost, size = timed_saves(state, repeat)
        return cost, size, sum(1 for e in state.entries if e.object)


def merge_run(work: Path, parts: int, lines: int, lateness: float) -> dict[str, Any]:
    """One import of ``lines`` lines split over ``parts`` files, every snapshot measured."""
    from merge import logs

    from import_logs.config import BackendOptions, Config, StateOptions
    from import_logs.pipeline import Importer

    folder = work / f"merge-{parts}-{lateness:g}"
    folder.mkdir()
    inputs = logs(folder, lines, parts)
    state_path = folder / "state.json"
    snapshots: list[tuple[float, int, int]] = []
    original: Callable[..., None] = StateFile.save

    def measured(self: StateFile, *, clean: bool, in_flight: int = 0) -> None:
        started = time.process_time()
        original(self, clean=clean, in_flight=in_flight)
        cost = (time.process_time() - started) * 1000
        acked = sum(len(e.acked) for e in self.entries)
        snapshots.append((cost, Path(self.path).stat().st_size, acked))

    StateFile.save = measured  # type: ignore[method-assign]
    try:
        config = Config(
            inputs=tuple(inputs),
            workers=1,
            backend=BackendOptions(idsite="1"),
            save_requests=str(folder / "out.jsonl"),
            state=StateOptions(path=str(state_path)),
            lateness=lateness,
        )
        started = time.monotonic()
        stats = Importer(config).run()
        wall = time.monotonic() - started
    finally:
        StateFile.save = original  # type: ignore[method-assign]
    final = json.loads(state_path.read_text())
    return {
        "files": parts,
        "lateness": lateness,
        "sent": stats.sent,
        "snapshots": len(snapshots),
        "ms": statistics.median(s[0] for s in snapshots),
        "max bytes": max(s[1] for s in snapshots),
        "entries": len(final["sources"]),
        "max acked": max(s[2] for s in snapshots),
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, nargs="*", default=[1000, 10_000, 100_000])
    parser.add_argument("--files", type=int, nargs="*", default=[2, 8, 64, 512])
    parser.add_argument("--lines", type=int, default=20_000, help="lines of the merged log, whatever the files")
    parser.add_argument("--repeat", type=int, default=5, help="snapshots timed per state")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("A listed bucket, every object imported (one every 5 minutes):")
        print(f"{'objects':>9} {'form':<34} {'entries':>8} {'bytes':>12} {'ms/snapshot':>12} {'list requests':>14}")
        for count in opts.objects:
            rows = [
                ("an entry per object (version 1)", False, 0.0),
                ("mark + the last day", True, 0.0),
                ("mark + two days (before relisting)", True, 1.0),
            ]
            for name, compact, extra in rows:
                cost, size, entries = bucket_state(work, count, compact=compact, extra_days=extra, repeat=opts.repeat)
                listed = entries if compact else count
                requests = max(1, -(-listed // 1000))
                print(f"{count:>9,} {name:<34} {entries:>8,} {size:>12,} {cost:>12.1f} {requests:>14,}")
        print()
        print(f"A run merging N local files ({opts.lines:,} lines in all, split at random), every snapshot measured:")
        header = (
            f"{'files':>6} {'lateness':>9} {'snapshots':>10} {'entries':>8} {'max bytes':>10} {'bytes/file':>11} "
            f"{'ms/snapshot':>12} {'max acked':>10}"
        )
        print(header)
        cases = [(n, 60.0) for n in opts.files] + [(opts.files[min(2, len(opts.files) - 1)], 3600.0)]
        for parts, lateness in cases:
            r = merge_run(work, parts, opts.lines, lateness)
            print(
                f"{r['files']:>6} {r['lateness']:>8g}s {r['snapshots']:>10,} {r['entries']:>8,} {r['max bytes']:>10,} "
                f"{r['max bytes'] // max(1, r['entries']):>11,} {r['ms']:>12.2f} {r['max acked']:>10,}"
            )


if __name__ == "__main__":
    main()
