"""--follow as a service: the CPU it uses when the log is idle and when it trickles, and its memory.

    python bench/follow.py                       # 30 s idle, 30 s at 100 lines/s
    python bench/follow.py --seconds 60 --rate 1000

Runs import-logs --follow (2 workers, the default 1 s poll and 5 s flush) on a log that already holds 10,000
lines, into bench/fake_tracker.py; after the catch-up, measures the CPU of all its processes (the importer, its
workers, its forkserver) while nothing is written, then while lines are appended at --rate per second; then
stops it with SIGTERM and checks that the tracker got every line.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import FakeTracker, _cpu, _pss_mb, _tree  # noqa: E402

LINE = '198.51.100.{} - - [{}] "GET /page/{} HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64)"\n'


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds and PSS (MB) of a process and its descendants."""
    cpu = mem = 0.0
    for p in _tree(pid):
        try:
            cpu += _cpu(p)
            mem += _pss_mb(p)
        except (OSError, IndexError, ValueError):
            continue
    return cpu, mem


def write(log: Path, start: int, count: int) -> None:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    with log.open("a") as f:
        f.writelines(LINE.format(n % 250, stamp, n) for n in range(start, start + count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--rate", type=int, default=100, help="lines per second in the trickle phase")
    opts = parser.parse_args()
    tracker = FakeTracker()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        write(log, 0, 10_000)
        written = 10_000
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "import_logs",
                "--no-progress",
                "--follow",
                "--workers=2",
                "-q",
                f"--summary-json={tmp}/summary.json",
                *tracker.args(),
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(8)  # start and catch up
        cpu0, mem = tree_cpu(proc.pid)
        time.sleep(opts.seconds)
        cpu1, mem1 = tree_cpu(proc.pid)
        idle = cpu1 - cpu0
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < opts.seconds:
            due = int(elapsed * opts.rate) + 1
            if due > written - 10_000:
                write(log, written, due - (written - 10_000))
                written = 10_000 + due
            time.sleep(0.01)
        cpu2, mem2 = tree_cpu(proc.pid)
        trickle = cpu2 - cpu1
        time.sleep(7)  # the last partial batch goes out after --flush-interval
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        summary = json.loads(Path(f"{tmp}/summary.json").read_text())
    report = tracker.close()
    hits = int(json.loads(report.splitlines()[-1]).get("hits", -1))
    print(f"idle for {opts.seconds:g} s:      {idle:.3f} CPU-s ({100 * idle / opts.seconds:.2f} % of one core)")
    print(
        f"{opts.rate} lines/s for {opts.seconds:g} s: {trickle:.3f} CPU-s ({100 * trickle / opts.seconds:.2f} % of "
        f"one core, {trickle / (opts.rate * opts.seconds) * 1e6:.0f} CPU-s per million lines)"
    )
    print(f"memory (PSS, all processes): {max(mem, mem1, mem2):.0f} MB")
    print(f"lines written {written:,}, sent {summary['hits_sent']:,}, the tracker got {hits:,}; exit {proc.returncode}")


if __name__ == "__main__":
    main()
