"""--follow as a service through rotations, SIGTERM and kill -9: is every line sent, and sent once?

    python bench/follow_campaign.py                              # 60 s, 10 rotations, 6 stops, seed 1
    python bench/follow_campaign.py --seed 7 --duration 40 --rotations 4 --stops 4

A writer thread appends --rate unique lines a second (combined format, several visitors; line n asks for
/c/<n>) to access.log, which is rotated --rotations times like logrotate with compress and delaycompress: by
rename (the writer reopens its log a moment later, as nginx does) or by copytruncate (the writer paused for the
copy, so that logrotate's own race loses nothing), access.log.1 → .2 gzipped a moment later, now and then .1
gzipped at once. `python -m import_logs --follow access.log` sends to a tracker in this process that counts
every hit by its path; it is stopped --stops times at random points, by SIGTERM or kill -9 (its process group,
as systemd does), and started again. After the writing, the last run catches up and is stopped by SIGTERM.

Prints lines written, distinct received, lost (written − distinct), duplicates (received − distinct) and the
bound the runs announced (the "up to N" after a kill, hits_maybe_stored_twice), then one JSON line. Exits 1
when a line is lost. Seeded: the same seed gives the same schedule.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fake_tracker import APP, TOKEN  # noqa: E402

LINE = (
    '{ip} - - [{stamp}] "GET /c/{n} HTTP/1.1" 200 {size} "https://www.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"\n'
)
PATH = re.compile(r"/c/(\d+)")


class Tracker:
    """Piwik PRO's token, app and bulk tracking endpoints on 127.0.0.1; counts each hit by its /c/<n>."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.lock = threading.Lock()
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def answer(self, status: int, body: bytes = b"", kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.answer(200, APP.encode(), "application/vnd.api+json")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/auth/token"):
                    return self.answer(200, TOKEN)
                items = json.loads(body)["requests"]
                urls = [dict(parse_qsl(i.lstrip("?"))) if isinstance(i, str) else i for i in items]
                with tracker.lock:
                    tracker.counts.update(int(m[1]) for u in urls if (m := PATH.search(u.get("url", ""))))
                self.answer(202)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed client resets its socket
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self) -> tuple[int, int]:
        return sum(self.counts.values()), len(self.counts)


class Writer(threading.Thread):
    """The web server: --rate lines a second, each unique, written in whole lines and flushed."""

    def __init__(self, path: Path, rate: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.path, self.rate, self.rng = path, rate, random.Random(seed)
        self.lock = threading.Lock()  # held by copytruncate, and while reopening
        self.file = path.open("a")
        self.written = 0
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(0.01):
            due = int((time.monotonic() - started) * self.rate)
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
            with self.lock:
                lines = [
                    LINE.format(ip=f"203.0.113.{self.rng.randrange(1, 41)}", stamp=stamp, n=n, size=500 + n % 97)
                    for n in range(self.written, due)
                ]
                self.file.write("".join(lines))
                self.file.flush()
                self.written = max(due, self.written)

    def reopen(self) -> None:
        with self.lock:
            self.file.close()
            self.file = self.path.open("a")


def rotate(log: Path, writer: Writer, mode: str) -> None:
    """access.log.K[.gz] → K+1, then access.log → access.log.1 by rename or copytruncate."""
    if not log.exists():
        writer.reopen()  # rotated again before the writer reopened its log
    older = [m for p in log.parent.iterdir() if (m := re.fullmatch(re.escape(log.name) + r"\.(\d+)(\.gz)?", p.name))]
    for m in sorted(older, key=lambda m: -int(m[1])):
        (log.parent / m[0]).rename(log.parent / f"{log.name}.{int(m[1]) + 1}{m[2] or ''}")
    if mode == "rename":
        log.rename(log.with_name(log.name + ".1"))  # the writer writes on to it until it reopens
    else:
        with writer.lock:  # no line between the copy and the truncation
            shutil.copyfile(log, log.with_name(log.name + ".1"))
            os.truncate(log, 0)


def compress(path: Path, writer: Writer) -> bool:
    """gzip a rotated file, unless the writer still writes to it (it has not reopened its log yet)."""
    with writer.lock:
        if path.exists() and path.stat().st_ino == os.fstat(writer.file.fileno()).st_ino:
            return False
    if path.exists():
        with path.open("rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()
    return True


class Service:
    """The importer, as systemd runs it: started, stopped by a signal, started again; its summaries kept."""

    def __init__(self, work: Path, tracker: Tracker, workers: int) -> None:
        self.work, self.tracker, self.workers = work, tracker, workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs: list[dict[str, Any]] = []
        self.up = False

    def start(self) -> None:
        n = len(self.runs)
        args = f"--url={self.tracker.url} --client-id=bench --idsite=bench --no-progress --quiet --traceback --follow "
        args += f"--flush-interval=1 --workers={self.workers} --state-file={self.work}/state.json "
        args += f"--summary-json={self.work}/summary-{n}.json {self.work}/access.log"
        env = {**os.environ, "IMPORT_LOGS_CLIENT_SECRET": "bench"}
        with (self.work / f"stderr-{n}.txt").open("wb") as err:  # a session of its own: killed as a group
            command, out = [sys.executable, "-m", "import_logs", *args.split()], subprocess.DEVNULL
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True)
        self.runs.append({"run": n, "stopped_by": None})
        self.up = True

    def stop(self, how: str) -> None:
        assert self.proc is not None
        run, self.up = self.runs[-1], False
        if self.proc.poll() is not None:
            run["stopped_by"] = "itself"
        elif how == "kill -9":
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(signal.SIGTERM)
        run["stopped_by"] = run["stopped_by"] or how
        with contextlib.suppress(subprocess.TimeoutExpired):
            run["exit"] = self.proc.wait(60)  # else killed with its group just below
        for _ in range(20):  # its workers end with it
            if not group_alive(self.proc.pid):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # as systemd does with the rest of the unit's processes
            run["leftover_processes"] = True
        summary = self.work / f"summary-{run['run']}.json"  # none after a kill -9: the next run announces its bound
        figures = json.loads(summary.read_text()) if summary.exists() else {}
        err = (self.work / f"stderr-{run['run']}.txt").read_text(errors="replace")
        found = re.search(r"up to (\d+) of its hits may have been accepted", err)  # the same, said on stderr
        run["announced_after_kill"] = max(figures.get("previous_run_in_flight", 0), int(found[1]) if found else 0)
        run["maybe_stored_twice"] = figures.get("hits_maybe_stored_twice", 0)
        said = [line for line in err.splitlines() if line.startswith("import-logs:") and "error" in line]
        if said:  # the traceback is in stderr-N.txt (kept with --keep)
            run["error"] = said[0][:300]


def group_alive(pgid: int) -> bool:
    """Does a process of the group still run (zombies, which only wait for their parent, do not count)?"""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def campaign(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(opts.seed)
    log = work / "access.log"
    tracker = Tracker()
    writer = Writer(log, opts.rate, opts.seed)
    service = Service(work, tracker, opts.workers)
    modes = (["rename", "copytruncate"] * opts.rotations)[: opts.rotations]
    rng.shuffle(modes)
    signals = (["SIGTERM", "kill -9"] * opts.stops)[: opts.stops]
    rng.shuffle(signals)
    rotations = sorted(rng.uniform(1.5, opts.duration - 1.5) for _ in modes)
    events: list[tuple[float, str, Any]] = [(at, "rotate", mode) for at, mode in zip(rotations, modes, strict=True)]
    stops = []
    for i, how in enumerate(signals):  # every other stop just before a rotation, down while it happens
        near = i % 2 == 0
        at = rng.choice(rotations) - rng.uniform(0.5, 2.5) if near else rng.uniform(2.0, opts.duration - 1.0)
        stops.append((at, how, rng.uniform(1.0, 4.0) if near else rng.uniform(0.0, 1.5)))
    free = 2.0
    for at, how, down in sorted(stops):
        at = max(at, free)  # one stop at a time
        events += [(at, "stop", how), (at + down, "start", None)]
        free = at + down + 1.5
    events.sort(key=lambda e: e[0])
    started = time.monotonic()
    writer.start()
    service.start()
    trace = (work / "events.txt").open("w")  # what happened when, for a lost line's story
    while events:
        at, what, arg = events.pop(0)
        while time.monotonic() < started + at:  # meanwhile, systemd's Restart=on-failure
            time.sleep(min(0.25, max(0.0, started + at - time.monotonic())))
            if service.up and service.proc is not None and service.proc.poll() is not None:
                trace.write(f"{time.monotonic() - started:7.2f} restart after its exit {service.proc.returncode}\n")
                service.stop("itself")
                service.start()
        trace.write(f"{time.monotonic() - started:7.2f} {what} {arg or ''} (line {writer.written})\n")
        if what == "rotate":
            rotate(log, writer, arg)
            later = time.monotonic() - started
            if arg == "rename":
                events.append((later + rng.uniform(0.2, 0.8), "reopen", None))
            events.append((later + rng.uniform(0.5, 2.5), "compress", work / "access.log.2"))  # delaycompress
            if rng.random() < 0.3:
                events.append((later + rng.uniform(1.2, 3.0), "compress", work / "access.log.1"))  # compress
        elif what == "reopen":
            writer.reopen()
        elif what == "compress" and not compress(arg, writer):
            events.append((time.monotonic() - started + 0.5, what, arg))
        elif what == "stop":
            service.stop(arg)
        elif what == "start":
            service.start()
        events.sort(key=lambda e: e[0])
    trace.close()
    time.sleep(max(0.0, started + opts.duration - time.monotonic()))
    writer.stop.set()
    writer.join()
    writer.file.close()
    # The last run catches up: stopped once every line came, or nothing more came for 10 s.
    last, still = tracker.received()[1], time.monotonic()
    deadline = time.monotonic() + opts.final_timeout
    while time.monotonic() < deadline and last < writer.written and time.monotonic() - still < 10:
        time.sleep(0.5)
        now = tracker.received()[1]
        if now != last:
            last, still = now, time.monotonic()
    time.sleep(1.5)  # a line sent twice at the very end still arrives
    service.stop("SIGTERM")
    tracker.server.shutdown()
    tracker.server.server_close()
    received, distinct = tracker.received()
    missing = sorted(set(range(writer.written)) - set(tracker.counts))
    bound = sum(r["announced_after_kill"] + r["maybe_stored_twice"] for r in service.runs)
    return {
        **dict(seed=opts.seed, duration=opts.duration, rotations=modes, runs=service.runs, written=writer.written),
        **dict(received=received, distinct=distinct, lost=len(missing), lost_ranges=ranges(missing)[:10]),
        **dict(duplicates=received - distinct, announced_bound=bound),
        "stopped_by": dict(Counter(str(r["stopped_by"]) for r in service.runs)),
    }


def ranges(numbers: list[int]) -> list[str]:
    out: list[list[int]] = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return [f"{a}" if a == b else f"{a}-{b}" for a, b in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writing")
    parser.add_argument("--rotations", type=int, default=10)
    parser.add_argument("--stops", type=int, default=6, help="SIGTERMs and kill -9s, about half each")
    parser.add_argument("--rate", type=int, default=1000, help="lines written a second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--final-timeout", type=float, default=60.0, help="at most this long for the last run")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, state, stderr)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if opts.keep:
            opts.keep.mkdir(parents=True)
        result = campaign(opts, opts.keep or Path(tmp))
    stops = ", ".join(f"{how} {n}" for how, n in result["stopped_by"].items())
    print(f"follow campaign, seed {opts.seed}: {opts.duration:g} s at {opts.rate:,} lines/s, rotations ", end="")
    print(f"{', '.join(result['rotations']) or 'none'}; {len(result['runs'])} runs, stopped by {stops}")
    for run in result["runs"]:
        if run.get("error") or run.get("leftover_processes"):
            print(f"  run {run['run']} ({run['stopped_by']}, exit {run.get('exit')}): {run}")
    print(f"lines written       {result['written']:>9,}")
    print(f"distinct received   {result['distinct']:>9,}")
    print(f"lost                {result['lost']:>9,}  {' '.join(result['lost_ranges'])}")
    print(f"duplicates          {result['duplicates']:>9,}")
    print(f"announced bound     {result['announced_bound']:>9,}  (up to N after a kill -9 + maybe stored twice)")
    if result["duplicates"] > result["announced_bound"]:
        print(f"duplicates beyond the announced bound: {result['duplicates'] - result['announced_bound']:,}")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))
    sys.exit(1 if result["lost"] else 0)


if __name__ == "__main__":
    main()
