"""What watching a run costs (issue #25): the CPU of an import end to end, without --metrics-listen on the
revision before it (BASE), without it on this tree, and with it on this tree while /metrics and /healthz are
scraped every second (a Prometheus scrapes every 15-60 s) and a status line is written every second.

    python bench/metrics.py                                  # 200,000 lines, 3 turns
    python bench/metrics.py --lines 500000 --repeat 5 --base 5685e02

The three take turns within each repetition (the machine's speed drifts within minutes); the table gives the
median CPU seconds of all the import's processes (and of its main process), and each against this tree
without metrics.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import FakeTracker, Measure, ensure_logs, measure  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scraped(port: int, run: partial[Measure]) -> Measure:
    """``run``, with /metrics and /healthz fetched every second meanwhile."""
    done = threading.Event()
    scrapes = [0]

    def scrape() -> None:
        while not done.wait(1.0):
            for path in ("/metrics", "/healthz"):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", path)
                    conn.getresponse().read()
                    conn.close()
                    scrapes[0] += 1
                except OSError:
                    continue  # not listening yet, or already gone

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    try:
        return run()
    finally:
        done.set()
        thread.join()
        print(f"    ({scrapes[0]} requests to the listener)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", default="5685e02", help="the revision before #25 (metrics off: nothing to add)")
    opts = parser.parse_args()
    root = HERE.parent
    log, _ = ensure_logs(opts.lines, 1)
    cores = os.cpu_count() or 1
    base = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "-f", str(base), opts.base], check=True)
    tracker = FakeTracker()
    runs: dict[str, list[Measure]] = {"base": [], "off": [], "on": []}
    try:
        args = tracker.args(f"--workers={cores}", "--recorders=2", str(log))
        port = free_port()
        watched = [*args[:-1], f"--metrics-listen=127.0.0.1:{port}", "--status-interval=1", args[-1]]
        variants = {
            "base": partial(measure, args, tree=base),
            "off": partial(measure, args, tree=root),
            "on": partial(scraped, port, partial(measure, watched, tree=root)),
        }
        for turn in range(opts.repeat):
            order = list(variants) if turn % 2 == 0 else list(reversed(variants))
            for name in order:
                runs[name].append(variants[name]())
                print(f"  turn {turn + 1}, {name}: {runs[name][-1].cpu:.2f} CPU s", file=sys.stderr)
    finally:
        tracker.close()
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(base)], check=False)
    off = statistics.median(m.cpu for m in runs["off"])
    print(f"\n{log.name}: {opts.lines:,} lines end to end, {cores} workers, 2 recorders; median of {opts.repeat}\n")
    print(f"{'':<46} {'CPU s':>7} {'(main)':>7} {'lines/s':>9} {'CPU vs off':>11}")
    labels = {
        "base": f"{opts.base}, before #25",
        "off": "this tree, no --metrics-listen",
        "on": "this tree, scraped every 1 s, status line 1 s",
    }
    for name, label in labels.items():
        cpu = statistics.median(m.cpu for m in runs[name])
        main_cpu = statistics.median(m.main_cpu for m in runs[name])
        rate = statistics.median(m.rate for m in runs[name])
        print(f"{label:<46} {cpu:>7.2f} {main_cpu:>7.2f} {rate:>9,.0f} {cpu / off:>10.3f}x")
    print("\nEach CPU sample: all processes of the import (main, workers, forkserver); run it on a quiet machine.")


if __name__ == "__main__":
    main()
