"""Visits as the tracker rebuilds them from the order hits reach it (the model in ``visits.py``), for an import of
two load-balanced servers' logs: each visitor's requests went to either server at random (#23)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from visits import Visit, rebuild, totals

START = datetime(2024, 2, 10, 8, 0, tzinfo=timezone.utc)


def test_the_model_splits_and_shortens_as_the_tracker_does() -> None:
    assert totals(rebuild([("a", 0), ("a", 600), ("a", 1200)])) == (1, 1201)
    assert totals(rebuild([("a", 0), ("a", 1800)])) == (2, 0)  # 30 minutes: a new visit
    late = rebuild([("a", 600), ("a", 1200), ("a", 0)])  # the first hit arrives last
    assert late["a"] == [Visit(first=600, last=1200, length=0, actions=3)]
    midnight = int(datetime(2024, 2, 10, 23, 59, tzinfo=timezone.utc).timestamp())
    assert totals(rebuild([("a", midnight), ("a", midnight + 120)])) == (2, 0)


def two_servers(tmp_path: Path, seed: int) -> tuple[list[Path], list[tuple[str, int]]]:
    """40 visitors browsing for a day, each request logged by one of two servers at random."""
    rng = random.Random(seed)
    requests = []
    for n in range(40):
        t = START + timedelta(seconds=rng.randrange(10 * 3600))
        for page in range(rng.randrange(2, 12)):
            requests.append((t, f"198.51.100.{n}", f"/v{n}/p{page}"))
            t += timedelta(seconds=rng.randrange(5, 600))
    requests.sort()
    logs = [tmp_path / "web1.log", tmp_path / "web2.log"]
    files = [log.open("w") for log in logs]
    for t, ip, path in requests:
        stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
        files[rng.randrange(2)].write(f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" 200 100 "-" "Mozilla/5.0"\n')
    for f in files:
        f.close()
    return logs, [(ip, int(t.timestamp())) for t, ip, _ in requests]


def test_two_load_balanced_servers_give_the_visits_of_one_sorted_log(tmp_path: Path) -> None:
    logs, truth = two_servers(tmp_path, seed=7)
    with FakePiwikPro() as fake:
        result = run_cli(*piwik_args(fake, "--recorders=1"), *map(str, logs), cwd=tmp_path, env=SECRET_ENV)
        assert result.returncode == 0, result.stderr
        received = [
            (
                hit["cip"],
                int(datetime.strptime(hit["cdt"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()),
            )
            for hit in fake.hits
        ]
    assert sorted(received) == sorted(truth)  # every hit, once
    assert totals(rebuild(received)) == totals(rebuild(truth))
