"""--follow with several live files (#23): the logs of two load-balanced servers followed at once reach the
tracker in one time order per visitor, within seconds; one that stops writing does not hold the other back."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fake_server import FakePiwikPro
from test_follow import start, stop, wait_for


def write(path: Path, lines: list[tuple[datetime, int]]) -> None:
    with path.open("a") as f:
        for when, n in lines:
            stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
            f.write(f'10.0.0.{n % 5} - - [{stamp}] "GET /p/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')


def test_two_followed_servers_in_one_time_order_and_an_idle_one_holds_nothing(tmp_path: Path) -> None:
    web1, web2 = tmp_path / "web1.log", tmp_path / "web2.log"
    web1.touch()
    web2.touch()
    base = datetime.now(timezone.utc) - timedelta(seconds=30)
    with FakePiwikPro() as fake:
        proc = start(fake, tmp_path, str(web1), str(web2), extra=("--lateness=10",))
        try:
            # Each second of log time, requests go to either server; each server writes its lines late, in a
            # burst, the other server's burst in between.
            n = 0
            for second in range(20):
                when = base + timedelta(seconds=second)
                mine = [(when, n + k) for k in range(6)]
                write(web1, mine[0::2])
                write(web2, mine[1::2])
                n += 6
            wait_for(lambda: len(fake.hits) >= n, "every line of both servers", timeout=20)
            # web2 stops writing; web1 goes on: its hits are not held for web2.
            started = time.monotonic()
            write(web1, [(datetime.now(timezone.utc), n)])
            wait_for(lambda: len(fake.hits) >= n + 1, "web1's line while web2 is idle", timeout=10)
            assert time.monotonic() - started < 5
        finally:
            stop(proc)
    seen: dict[str, str] = {}
    for hit in fake.hits:
        assert hit["cdt"] >= seen.get(hit["cip"], ""), hit
        seen[hit["cip"]] = hit["cdt"]
    assert sorted(int(h["url"].rsplit("/", 1)[1]) for h in fake.hits) == list(range(n + 1))
