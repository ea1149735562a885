"""Each visitor's hits reach the tracker in time order across every input of a run (#23), counted at the fake
trackers: the logs of 2 to 8 load-balanced servers (each request logged by one of them at random), a rotated
series with standard input among the files, a little disorder inside each log (within --lateness), 1 to 2
workers, 1 to 8 recorders, every backend. The visits the tracker rebuilds (tests/visits.py) are those of the
same requests sent in time order by one recorder."""

from __future__ import annotations

import gzip
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET_ENV, piwik_args, run_cli
from fake_others import FakeMatomo, FakePirsch
from fake_server import FakePiwikPro
from visits import rebuild, totals

START = datetime(2024, 2, 10, 6, 0, tzinfo=timezone.utc)


def requests(seed: int, visitors: int = 60) -> list[tuple[datetime, str, str]]:
    """Visitors browsing for a day and a half (past midnight), each request (time, address, path)."""
    rng = random.Random(seed)
    out = []
    for n in range(visitors):
        t = START + timedelta(seconds=rng.randrange(30 * 3600))
        for page in range(rng.randrange(2, 14)):
            out.append((t, f"198.51.{n // 250}.{n % 250}", f"/v{n}/p{page}"))
            t += timedelta(seconds=rng.choice([3, 20, 90, 400, 900]))
    return sorted(out)


def line(t: datetime, ip: str, path: str) -> str:
    stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" 200 100 "-" "Mozilla/5.0 (X11; Linux x86_64)"\n'


def split(reqs: list[tuple[datetime, str, str]], files: int, seed: int) -> list[list[str]]:
    """Each request to one server at random; a server writes a line when the request ends, so a few lines come
    up to 20 s after later ones."""
    rng = random.Random(seed)
    logs: list[list[tuple[datetime, str]]] = [[] for _ in range(files)]
    for t, ip, path in reqs:
        logs[rng.randrange(files)].append((t + timedelta(seconds=rng.choice([0, 0, 0, 0, 2, 20])), line(t, ip, path)))
    return [[text for _, text in sorted(log, key=lambda x: x[0])] for log in logs]


def truth(reqs: list[tuple[datetime, str, str]]) -> list[tuple[str, int]]:
    return [(ip, int(t.timestamp())) for t, ip, _ in reqs]


def received(backend: str, server: Any) -> list[tuple[str, int]]:
    out = []
    for hit in server.hits:
        if backend == "pirsch":
            when = datetime.strptime(hit["time"], "%Y-%m-%dT%H:%M:%SZ")
            out.append((hit["ip"], int(when.replace(tzinfo=timezone.utc).timestamp())))
        else:
            when = datetime.strptime(hit["cdt"], "%Y-%m-%d %H:%M:%S")
            out.append((hit["cip"], int(when.replace(tzinfo=timezone.utc).timestamp())))
    return out


def run(backend: str, tmp_path: Path, inputs: list[str], *options: str, stdin: str | None = None) -> Any:
    import subprocess
    import sys

    if backend == "piwikpro":
        server: Any = FakePiwikPro()
        cli = piwik_args(server, *options)
        env = SECRET_ENV
    elif backend == "matomo":
        server = FakeMatomo()
        cli = [f"--url={server.url}", "--idsite=1", "--retry-delay=0.01", "--no-progress", *options]
        env = {"IMPORT_LOGS_TOKEN_AUTH": "secret-token"}
    else:
        server = FakePirsch()
        cli = ["--backend=pirsch", f"--url={server.url}", "--client-secret=pa_access-key", "--no-progress", *options]
        env = {}
    with server:
        if stdin is None:
            result = run_cli(*cli, *inputs, cwd=tmp_path, env=env)
        else:
            import os

            result = subprocess.run(
                [sys.executable, "-m", "import_logs", *cli, *inputs],
                input=stdin,
                cwd=tmp_path,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert result.returncode == 0, result.stderr
        return server, result


def check(backend: str, server: Any, reqs: list[tuple[datetime, str, str]]) -> None:
    got = received(backend, server)
    want = truth(reqs)
    assert sorted(got) == sorted(want)  # every hit, once
    last: dict[str, int] = {}
    for ip, t in got:
        assert t >= last.get(ip, t), f"{ip}: a hit at {t} after one at {last[ip]}"
        last[ip] = t
    assert totals(rebuild(got)) == totals(rebuild(want))


@pytest.mark.parametrize(
    ("backend", "files", "workers", "recorders", "seed"),
    [
        ("piwikpro", 2, 1, 1, 1),
        ("piwikpro", 8, 2, 4, 2),
        ("matomo", 2, 2, 1, 3),
        ("matomo", 3, 2, 8, 4),
        ("pirsch", 4, 2, 2, 5),
        ("pirsch", 2, 1, 1, 6),
    ],
)
def test_each_visitors_hits_in_time_order_across_load_balanced_servers(
    tmp_path: Path, backend: str, files: int, workers: int, recorders: int, seed: int
) -> None:
    reqs = requests(seed)
    inputs = []
    for k, lines in enumerate(split(reqs, files, seed)):
        path = tmp_path / f"web{k + 1}.log"
        path.write_text("".join(lines))
        inputs.append(str(path))
    server, _ = run(backend, tmp_path, inputs, f"--workers={workers}", f"--recorders={recorders}", "--no-state")
    check(backend, server, reqs)


def test_a_rotated_series_of_two_servers_and_standard_input(tmp_path: Path) -> None:
    """web1's log rotated twice (.2.gz, .1, the live file) beside web2's, and a third server's lines piped in."""
    reqs = requests(7)
    web1, web2, piped = split(reqs, 3, 7)
    third = len(web1) // 3
    with gzip.open(tmp_path / "web1.log.2.gz", "wt") as f:
        f.writelines(web1[:third])
    (tmp_path / "web1.log.1").write_text("".join(web1[third : 2 * third]))
    (tmp_path / "web1.log").write_text("".join(web1[2 * third :]))
    (tmp_path / "web2.log").write_text("".join(web2))
    inputs = [str(tmp_path / "web1.log*"), str(tmp_path / "web2.log"), "-"]
    server, _ = run("piwikpro", tmp_path, inputs, "--workers=2", "--recorders=2", "--no-state", stdin="".join(piped))
    check("piwikpro", server, reqs)


def test_a_hit_later_than_the_lateness_is_sent_and_counted(tmp_path: Path) -> None:
    """A line 2 hours late at the end of a log of 2 MB: its block comes after those of later hits were sent."""
    reqs = requests(8, visitors=2000)
    lines = [line(t, ip, path) for t, ip, path in reqs]
    lines.insert(len(lines) - 1, line(reqs[0][0] - timedelta(hours=2), "192.0.2.1", "/late"))  # 2 hours late
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    summary = tmp_path / "summary.json"
    server, result = run("piwikpro", tmp_path, [str(log)], "--no-state", f"--summary-json={summary}")
    import json

    figures = json.loads(summary.read_text())
    assert figures["late_hits"] == 1 and len(server.hits) == len(reqs) + 1
    assert "requests sent out of time order" in result.stdout
    assert figures["sent_per_site_day"] == {"app-uuid-1": {"2024-02-10": len(reqs) + 1 - _day2(reqs), **_day2d(reqs)}}


def _day2(reqs: list[tuple[datetime, str, str]]) -> int:
    return sum(1 for t, _, _ in reqs if t.date().isoformat() == "2024-02-11")


def _day2d(reqs: list[tuple[datetime, str, str]]) -> dict[str, int]:
    n = _day2(reqs)
    return {"2024-02-11": n} if n else {}


@pytest.mark.parametrize(
    ("seed", "signals"),
    [(11, ["KILL"]), (12, ["KILL"]), (13, ["TERM"]), (14, ["KILL", "TERM", "KILL"])],
)
def test_stopped_in_the_middle_of_a_merge_loses_nothing(tmp_path: Path, seed: int, signals: list[str]) -> None:
    """Four servers' logs merged, the importer killed (or stopped by SIGTERM) while sending, once or several times
    over; the last run sends the rest: every hit reaches the tracker, duplicates within the bounds the runs
    announce, each visitor's hits in order."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    reqs = requests(seed, visitors=1500)
    inputs = []
    for k, lines in enumerate(split(reqs, 4, seed)):
        path = tmp_path / f"web{k + 1}.log"
        path.write_text("".join(lines))
        inputs.append(str(path))
    rng = random.Random(seed)
    bounds = 0
    with FakePiwikPro() as fake:
        for n, name in enumerate(signals):
            fake.track_delay = 0.01
            summary = tmp_path / f"summary{n}.json"
            cli = [sys.executable, "-m", "import_logs", *piwik_args(fake, "--recorders=2", "--workers=2"),
                   f"--summary-json={summary}", *inputs]  # fmt: skip
            proc = subprocess.Popen(cli, cwd=tmp_path, env={**os.environ, **SECRET_ENV}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
            deadline = time.monotonic() + 30
            target = len(fake.hits) + rng.randrange(len(reqs) // 8, len(reqs) // 4)
            while len(fake.hits) < target and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            proc.send_signal(getattr(signal, f"SIG{name}"))
            proc.wait(timeout=20)
            if n and summary.exists():
                bounds += json.loads(summary.read_text())["previous_run_in_flight"]
        fake.track_delay = 0.0
        summary = tmp_path / "summary.json"
        result = run_cli(*piwik_args(fake, "--recorders=2"), f"--summary-json={summary}", *inputs, cwd=tmp_path,
                         env=SECRET_ENV)  # fmt: skip
        assert result.returncode == 0, result.stderr
        bounds += json.loads(summary.read_text())["previous_run_in_flight"]
        got = received("piwikpro", fake)
    want = truth(reqs)
    assert set(got) == set(want)  # nothing lost
    assert len(got) - len(want) <= bounds, (len(got) - len(want), bounds)
    if signals == ["TERM"]:
        assert len(got) == len(want)  # a clean stop leaves nothing in flight
