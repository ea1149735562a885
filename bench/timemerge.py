"""The in-process cost of the time merge (#23): hits per second and microseconds per hit through TimeMerge.

    python bench/timemerge.py                 # 1,000,000 hits, batches of 2,000
    python bench/timemerge.py --hits 200000 --batch 500

Cases: one source in time order (a log that overlaps no other); one source with small disorder (2 % of the
requests written up to 30 s after they started, as servers do); the same hits split at random over 2 and over 8
sources fed batch by batch in turn (load-balanced servers). 12 hits a second of log time, a 60 s lateness. The
"driver" line is the loop alone (slicing the batches, collecting the output), to subtract.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from import_logs.pipeline.timemerge import TimeMerge


def sorted_log(hits: int) -> list[float]:
    return [1_700_000_000.0 + i // 12 for i in range(hits)]


def disordered_log(hits: int, rng: random.Random) -> list[float]:
    """Stamped with the start, written at the end: 2 % of the requests take up to 30 s."""
    starts = sorted_log(hits)
    ends = [(t + (rng.random() * 30 if rng.random() < 0.02 else 0.0), t) for t in starts]
    ends.sort()
    return [t for _, t in ends]


def split(times: list[float], sources: int, rng: random.Random) -> list[list[float]]:
    logs: list[list[float]] = [[] for _ in range(sources)]
    for t in times:
        logs[rng.randrange(sources)].append(t)
    return logs


def run(logs: list[list[float]], batch: int, *, merge: bool) -> tuple[float, float, int]:
    """Wall and CPU seconds to push every hit through (batches in turn, one per source), and the hits out."""
    m: TimeMerge[int] = TimeMerge(lateness=60.0)
    payloads = [list(range(len(log))) for log in logs]
    for k in range(len(logs)):
        m.open(k)
    out = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, max(map(len, logs)), batch):
        for k, log in enumerate(logs):
            times, items = log[start : start + batch], payloads[k][start : start + batch]
            if merge:
                if times:
                    m.add(k, times, items)
                out += len(m.pop_ready())
            else:
                out += len(list(zip(times, items, strict=True)))
    for k in range(len(logs)):
        if merge:
            m.end(k)
    out += len(m.pop_ready())
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2_000, help="hits per batch (a worker's block)")
    args = parser.parse_args()
    rng = random.Random(23)
    one = sorted_log(args.hits)
    cases = [
        ("driver alone, 1 source", [one], False),
        ("1 source in time order", [one], True),
        ("1 source, 2 % up to 30 s late", [disordered_log(args.hits, rng)], True),
        ("2 sources interleaved", split(one, 2, rng), True),
        ("8 sources interleaved", split(one, 8, rng), True),
    ]
    print(f"{args.hits:,} hits, batches of {args.batch:,} per source, lateness 60 s (Python {sys.version.split()[0]})")
    for name, logs, merge in cases:
        wall, cpu, out = run(logs, args.batch, merge=merge)
        assert out == args.hits, (name, out)
        print(f"  {name:32} {args.hits / wall:>12,.0f} hits/s  {wall / args.hits * 1e6:6.3f} µs/hit  (CPU {cpu:.2f} s)")


if __name__ == "__main__":
    main()
