"""The cost of sending the hits of several logs in one time order (#23): the same log as one file, and split
over 2 and 8 files (each request to one server at random, each file in its own order), written with
--save-requests (the lanes and the time merge run; nothing is sent), with --against REV for the tree before.

    python bench/merge.py --lines 500000 --repeat 3
    python bench/merge.py --lines 500000 --repeat 3 --against 5a6c3d1   # one file: this tree against REV
    python bench/merge.py --lines 500000 --repeat 3 --against 5a6c3d1 --every-case   # 1, 2 and 8 files

Prints lines/s, CPU-seconds per million lines (all processes, and the importer's own) and peak memory, the
median of the runs; the trees take turns within each repetition (the machine's speed drifts).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import lines
from run import Measure, measure

ROOT = Path(__file__).resolve().parent.parent


def logs(work: Path, count: int, parts: int, seed: int = 1) -> list[str]:
    """The same log as ``parts`` files."""
    rng = random.Random(seed)
    files = [(work / f"web{k + 1}.log").open("w") for k in range(parts)]
    for text in lines(count, "common_complete", seed):
        files[rng.randrange(parts)].write(text + "\n")
    for f in files:
        f.close()
    return [f.name for f in files]


def run(inputs: list[str], work: Path, tree: Path) -> Measure:
    args = ["--idsite=1", "--no-state", "--workers=2", f"--save-requests={work / 'out.jsonl'}", *inputs]
    return measure(args, tree=tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", metavar="REV")
    parser.add_argument("--every-case", action="store_true", help="compare 2 and 8 files against REV too")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases: dict[str, list[str]] = {}
        for parts in (1, 2, 8):
            (work / str(parts)).mkdir()
            cases[f"{parts} file{'s' if parts > 1 else ''}"] = logs(work / str(parts), opts.lines, parts)
        trees = {"this tree": ROOT}
        if opts.against:
            other = work / "against"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(other), opts.against],
                           check=True, capture_output=True)  # fmt: skip
            trees[opts.against] = other
        rows: dict[tuple[str, str], list[Measure]] = {}
        try:
            for _ in range(opts.repeat):
                for case, inputs in cases.items():
                    for name, tree in trees.items():
                        if name != "this tree" and case != "1 file" and not opts.every_case:
                            continue
                        rows.setdefault((case, name), []).append(run(inputs, work, tree))
        finally:
            if opts.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "against")],
                               check=False, capture_output=True)  # fmt: skip
    print(f"{'case':<10} {'tree':<10} {'lines/s':>9} {'CPU-s/M':>8} {'main CPU-s/M':>13} {'peak MB':>8}")
    for (case, name), runs in rows.items():
        m = min(runs, key=lambda r: r.cpu)  # the least disturbed run
        per_m = 1e6 / m.lines
        cpu = statistics.median(r.cpu for r in runs) * per_m
        main_cpu = statistics.median(r.main_cpu for r in runs) * per_m
        rate = statistics.median(r.rate for r in runs)
        print(f"{case:<10} {name[:10]:<10} {rate:>9,.0f} {cpu:>8.2f} {main_cpu:>13.2f} {m.peak_mb:>8.0f}")


if __name__ == "__main__":
    main()
