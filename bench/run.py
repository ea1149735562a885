"""The benchmark table: lines per second, CPU seconds and peak memory of every process of the import.

    python bench/run.py                 # 1,000,000 lines, median of 3 runs
    python bench/run.py --lines 200000 --repeat 1
    python bench/run.py --scale 10      # the same log 10 times over: memory must not grow
    python bench/run.py --against 739dbcc --lines 500000   # this tree against a commit, interleaved
    python bench/run.py --against 739dbcc --only dry-run --only "end to end"   # some of the scenarios
    python bench/run.py --reference ~/matomo-log-analytics/import_logs.py --lines 200000 --repeat 1

Scenarios: --dry-run with 1 worker and with all cores, a .gz input, end to end to bench/fake_tracker.py
(2 workers, 2 recorders, payload 95), and --recorders 1 against 8 when each request takes 20 ms. Memory is the
sum of the proportional set sizes (PSS) of the importer, its worker processes and its forkserver, sampled
every 200 ms; CPU is their user + system time. Logs are generated once into bench/data/ (seeded).

With --against REV, every scenario also runs on a checkout of the git revision REV (a temporary worktree), the
two trees taking turns within each repetition, and the table gives both and their ratio: the machine's speed
drifts within minutes, so only a comparison made in one run means something.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measure:
    wall: float
    cpu: float
    peak_mb: float
    lines: int
    hits: int
    #: CPU seconds of the importer's own process (the rest of ``cpu`` is its worker processes and forkserver).
    main_cpu: float = 0.0
    #: CPU seconds the tracker spent meanwhile (when it was watched).
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.lines / self.wall

    @property
    def worker_cpu(self) -> float:
        return self.cpu - self.main_cpu


def _kids(pid: int) -> list[int]:
    """Children of a process from /proc/<pid>/task/*/children (no scan of /proc)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return out


def _tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += _kids(pid)
    return out


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(
    args: list[str],
    env: dict[str, str] | None = None,
    tree: Path | None = None,
    reference: Path | None = None,
    lines: int = 0,
    server: int | None = None,
) -> Measure:
    """One run of the importer (of the source tree ``tree`` when given, else the installed one), or of the
    reference ``import_logs.py`` at ``reference`` (which reads ``lines`` lines; its hits are not counted).
    ``server``: the tracker's pid, whose CPU seconds during the run are given apart."""
    if tree is not None:
        env = {**(env or {}), "PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        if reference is not None:
            cmd = [sys.executable, str(reference), *args]
        else:
            cmd = [sys.executable, "-m", "import_logs", "--no-progress", f"--summary-json={summary}", *args]
        errors = (Path(tmp) / "stderr").open("w+")
        server_before = _cpu(server) if server is not None else 0.0
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=errors,  # a file, not a pipe: a chatty process cannot fill it and stall
            text=True,
            env={**os.environ, **(env or {})},
            cwd=tree,
        )
        cpu: dict[int, float] = {}
        peak = 0.0
        while proc.poll() is None:
            total = 0.0
            for pid in _tree(proc.pid):
                try:
                    cpu[pid] = _cpu(pid)
                    total += _pss_mb(pid)
                except (OSError, IndexError, ValueError):
                    continue
            peak = max(peak, total)
            time.sleep(0.2)
        wall = time.monotonic() - started
        server_cpu = _cpu(server) - server_before if server is not None else 0.0
        errors.seek(0)
        err = errors.read()
        errors.close()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
        main_cpu = cpu.get(proc.pid, 0.0)
        if reference is not None:
            return Measure(wall, sum(cpu.values()), peak, lines, 0, main_cpu, server_cpu)
        figures = json.loads(summary.read_text())
    hits = figures["hits_kept"] if figures["dry_run"] else figures["hits_sent"]
    return Measure(wall, sum(cpu.values()), peak, figures["lines_parsed"], hits, main_cpu, server_cpu)


#: Issue #4: "a bare Python loop that only applies a combined-log regex to each line does ~136,000 lines/s on
#: one core" of the machine its figures were set on.
REFERENCE_BARE = 136_000
_BARE_REGEX = re.compile(r'(\S+) (\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (.*?) (\S+)" (\d+) (\S+) "(.*?)" "(.*?)"')


def calibrate(log: Path, lines: int = 300_000) -> float:
    """Lines/s of a bare loop reading lines and applying a combined-log regex, best of 3.

    The virtual machine's speed drifts by up to 2x within an hour; this figure, taken before and after the
    scenarios, says how fast the machine was around the run. Its regex is not the issue's, so it is a
    yardstick for comparing runs of this script, not a conversion to the issue's machine.
    """
    best = 0.0
    for _ in range(3):
        match = _BARE_REGEX.match
        count = 0
        start = time.perf_counter()
        with log.open(encoding="utf-8", errors="backslashreplace") as f:
            for line in itertools.islice(f, lines):
                match(line)
                count += 1
        best = max(best, count / (time.perf_counter() - start))
    return best


def median(runs: list[Measure]) -> Measure:
    runs = sorted(runs, key=lambda m: m.rate)
    return runs[len(runs) // 2]


def ensure_logs(lines: int, scale: int) -> tuple[Path, Path]:
    DATA.mkdir(exist_ok=True)
    base = DATA / f"common_complete-{lines}.log"
    if not base.exists():
        print(f"generating {base} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--lines", str(lines), str(base)], check=True)
    log = base
    if scale > 1:
        log = DATA / f"common_complete-{lines}x{scale}.log"
        if not log.exists():
            with log.open("wb") as out:
                for _ in range(scale):
                    with base.open("rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
    packed = log.with_suffix(".log.gz")
    if not packed.exists():
        print(f"compressing {packed} ...", file=sys.stderr)
        with log.open("rb") as f, gzip.open(packed, "wb", compresslevel=6) as out:
            shutil.copyfileobj(f, out, 1 << 20)
    return log, packed


class FakeTracker:
    def __init__(self, delay_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fake_tracker.py"), f"--delay-ms={delay_ms}"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = "http://127.0.0.1:" + self.proc.stdout.readline().split()[1]

    def close(self) -> str:
        """Stop it; its report: a line for people, then a JSON line with the hits/s of its sending window."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return out.strip()

    def args(self, *extra: str) -> list[str]:
        return [
            f"--url={self.url}",
            "--client-id=bench",
            "--client-secret=bench",
            "--idsite=bench",
            "--no-state",
            *extra,
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, help="read the generated log this many times over")
    parser.add_argument("--skip-slow", action="store_true", help="leave out the 20 ms recorders comparison")
    parser.add_argument("--against", metavar="REV", help="compare with git revision REV, interleaved")
    parser.add_argument(
        "--only", metavar="TEXT", action="append", help="with --against: only the scenarios whose name has TEXT"
    )
    parser.add_argument(
        "--reference", metavar="IMPORT_LOGS_PY", type=Path, help="compare with a reference import_logs.py, interleaved"
    )
    opts = parser.parse_args()
    if opts.against:
        compare(opts)
        return
    if opts.reference:
        against_reference(opts)
        return
    log, packed = ensure_logs(opts.lines, opts.scale)
    cores = os.cpu_count() or 1
    rows: list[tuple[str, Measure]] = []

    def scenario(name: str, args: list[str]) -> Measure:
        result = median([measure(args) for _ in range(opts.repeat)])
        rows.append((name, result))
        print(f"  {name}: {result.rate:,.0f} lines/s", file=sys.stderr)
        return result

    before = calibrate(log)
    tracker = FakeTracker()
    try:
        measured = [scenario(name, args) for name, args in scenarios(log, packed, cores, tracker)]
    finally:
        tracker_line = tracker.close().splitlines()[0]
    one, many = measured[0], measured[1]
    slow_lines = ""
    if not opts.skip_slow:
        sample = DATA / "slow-sample.log"
        with log.open() as f, sample.open("w") as out:
            out.writelines(itertools.islice(f, 60_000))
        rates = {}
        for recorders in (1, 8):
            slow = FakeTracker(delay_ms=20)
            try:
                measure(slow.args(f"--recorders={recorders}", str(sample)))
            finally:
                rates[recorders] = json.loads(slow.close().splitlines()[-1])["hits_per_second"]
        slow_lines = (
            f"20 ms per request: --recorders 8 sends {rates[8]:,.0f} hits/s, --recorders 1 "
            f"{rates[1]:,.0f} hits/s: {rates[8] / rates[1]:.1f} x"
        )

    bare = calibrate(log)
    print(
        f"\n{log.name}: {one.lines:,} lines, {log.stat().st_size / one.lines:.0f} bytes a line, "
        f"{cores} cores, median of {opts.repeat}\n"
    )
    print(f"{'scenario':<50} {'lines/s':>10} {'CPU s':>7} {'CPU-s/M':>8} {'(main':>6} {'workers)':>8} {'peak MB':>8}")
    for name, m in rows:
        per_m = 1e6 / m.lines
        print(
            f"{name:<50} {m.rate:>10,.0f} {m.cpu:>7.1f} {m.cpu * per_m:>8.2f} {m.main_cpu * per_m:>6.2f} "
            f"{m.worker_cpu * per_m:>8.2f} {m.peak_mb:>8.0f}"
        )
    print(f"\n{cores} workers / 1 worker: {many.rate / one.rate:.2f} x")
    print(tracker_line)
    if slow_lines:
        print(slow_lines)
    print(
        f"this machine: a bare combined-log regex loop read {before:,.0f} lines/s on one core before the "
        f"scenarios and {bare:,.0f} after (issue #4's machine: ~{REFERENCE_BARE:,} with its regex)"
    )


def scenarios(log: Path, packed: Path, cores: int, tracker: FakeTracker) -> list[tuple[str, list[str]]]:
    return [
        ("--dry-run, 1 worker", ["--dry-run", "--workers=1", str(log)]),
        (f"--dry-run, {cores} workers", ["--dry-run", f"--workers={cores}", str(log)]),
        (f".gz input, --dry-run, {cores} workers", ["--dry-run", f"--workers={cores}", str(packed)]),
        (
            "--save-requests, 1 worker (encoding)",
            ["--save-requests=/dev/null", "--idsite=1", "--workers=1", "--no-state", str(log)],
        ),
        (
            f"end to end, {cores} workers, 2 recorders",
            tracker.args(f"--workers={cores}", "--recorders=2", "--recorder-max-payload-size=95", str(log)),
        ),
    ]


def in_turns(a: Callable[[], Measure], b: Callable[[], Measure], *, repeat: int) -> tuple[Measure, Measure]:
    """The medians of ``repeat`` runs of ``a`` and of ``b``, taking turns (a b, b a, a b...): the machine's speed
    drifts within minutes, so each pair of runs shares the same moment."""
    runs: tuple[list[Measure], list[Measure]] = ([], [])
    for turn in range(repeat):
        for index in (0, 1) if turn % 2 == 0 else (1, 0):
            runs[index].append((a, b)[index]())
    return median(runs[0]), median(runs[1])


def compare(opts: argparse.Namespace) -> None:
    """Every scenario on this tree and on REV, taking turns; the medians and their ratio."""
    root = HERE.parent
    log, packed = ensure_logs(opts.lines, opts.scale)
    cores = os.cpu_count() or 1
    other = Path(tempfile.mkdtemp(prefix="bench-against-"))
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "-f", str(other), opts.against], check=True)
    tracker = FakeTracker()
    rows = []
    try:
        for name, args in scenarios(log, packed, cores, tracker):
            if opts.only and not any(text in name for text in opts.only):
                continue
            mine, theirs = in_turns(
                partial(measure, args, tree=root), partial(measure, args, tree=other), repeat=opts.repeat
            )
            rows.append((name, mine, theirs))
            print(f"  {name}: {mine.rate:,.0f} against {theirs.rate:,.0f} lines/s", file=sys.stderr)
    finally:
        tracker.close()
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(other)], check=False)
    print(f"\n{log.name}: {opts.lines:,} lines, {cores} cores, median of {opts.repeat}, turns taken\n")
    rev = opts.against[:9]
    print(f"{'scenario':<44} {'lines/s':>9} {rev:>9} {'ratio':>6} {'CPU-s/M':>8} {rev:>9} {'main':>6} {rev:>9}")
    for name, mine, theirs in rows:
        print(
            f"{name:<44} {mine.rate:>9,.0f} {theirs.rate:>9,.0f} {mine.rate / theirs.rate:>6.2f} "
            f"{mine.cpu / mine.lines * 1e6:>8.2f} {theirs.cpu / theirs.lines * 1e6:>9.2f} "
            f"{mine.main_cpu / mine.lines * 1e6:>6.2f} {theirs.main_cpu / theirs.lines * 1e6:>9.2f}"
        )


def against_reference(opts: argparse.Namespace) -> None:
    """import-logs and the reference importer (Matomo's import_logs.py, not shipped) on the same log, taking
    turns: lines/s, CPU-seconds per million lines of each (all their processes), the ratio, the tracker's CPU."""
    log, _ = ensure_logs(opts.lines, opts.scale)
    lines = opts.lines * opts.scale
    cores = os.cpu_count() or 1
    tracker = FakeTracker()
    matomo = [f"--url={tracker.url}", "--idsite=1", "--token-auth=bench"]
    ours_args = [f"--workers={cores}", "--no-state"]
    scenarios = [
        ("--dry-run", [*matomo, "--dry-run", *ours_args, str(log)], [*matomo, "--dry-run", str(log)]),
        (
            "end to end, Matomo backend, 2 recorders",
            [*matomo, "--recorders=2", *ours_args, str(log)],
            [*matomo, "--recorders=2", str(log)],
        ),
        (
            "end to end, Piwik PRO backend, 2 recorders",
            tracker.args(*ours_args, "--recorders=2", str(log)),
            [*matomo, "--recorders=2", str(log)],
        ),
    ]
    rows = []
    try:
        for name, ours, theirs in scenarios:
            rows.append(
                (
                    name,
                    *in_turns(
                        partial(measure, ours, lines=lines, server=tracker.proc.pid),
                        partial(measure, theirs, reference=opts.reference, lines=lines, server=tracker.proc.pid),
                        repeat=opts.repeat,
                    ),
                )
            )
            print(f"  {name}: {rows[-1][1].rate:,.0f} against {rows[-1][2].rate:,.0f} lines/s", file=sys.stderr)
    finally:
        tracker_line = tracker.close().splitlines()[0]
    print(f"\n{log.name}: {lines:,} lines, {cores} cores (import-logs: {cores} workers), median of {opts.repeat}\n")
    per_m = 1e6 / lines
    print(
        f"{'scenario':<44} {'lines/s':>9} {'reference':>9} {'ratio':>6} {'CPU-s/M':>8} {'(main':>6} {'workers)':>8} "
        f"{'reference':>9} {'peak MB':>8} {'reference':>9} {'tracker CPU-s/M':>16}"
    )
    for name, mine_m, ref_m in rows:
        print(
            f"{name:<44} {mine_m.rate:>9,.0f} {ref_m.rate:>9,.0f} {mine_m.rate / ref_m.rate:>6.1f} "
            f"{mine_m.cpu * per_m:>8.2f} {mine_m.main_cpu * per_m:>6.2f} {mine_m.worker_cpu * per_m:>8.2f} "
            f"{ref_m.cpu * per_m:>9.2f} {mine_m.peak_mb:>8.0f} {ref_m.peak_mb:>9.0f} "
            f"{mine_m.server_cpu * per_m:>7.2f} / {ref_m.server_cpu * per_m:<6.2f}"
        )
    print(
        "CPU-s/M: CPU seconds per million lines of all the client's processes (import-logs: its main process and "
        "its workers); tracker: the fake tracker's own CPU during import-logs' / the reference's runs."
    )
    print(tracker_line)


if __name__ == "__main__":
    main()
