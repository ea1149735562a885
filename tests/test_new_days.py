"""Many recorders, the visits of one (#23 item 4): Matomo salts each visitor's fingerprint per site and day, and two
bulk requests that meet a new day at once each make a salt, splitting the visits of their visitors. The first
request of a new (site, day) goes alone (import_logs/pipeline/newdays.py); the fake Matomo models the salt and its
transaction (tests/fake_others.py)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import run_cli
from fake_others import FakeMatomo

from import_logs.hits import Hits
from import_logs.pipeline.newdays import NewDays, SiteDays, zone

DAY = 86400.0
T0 = datetime(2024, 3, 30, 12, 0, tzinfo=timezone.utc).timestamp()


def gate(zones: dict[str, str] | None = None) -> NewDays:
    asked: list[str] = []

    def zone_of(site: str) -> object:
        asked.append(site)
        return zone((zones or {}).get(site))

    days = NewDays(lambda hits: hits.keys or ["1"], SiteDays(zone_of))  # type: ignore[arg-type]
    days.asked = asked  # type: ignore[attr-defined]
    return days


def hits(*times: float, sites: list[str] | None = None) -> Hits:
    return Hits(times=list(times), keys=sites or [])


# --- the days of a batch ---------------------------------------------------------------------------------------


def test_a_batch_of_one_site_and_one_day_is_one_pair() -> None:
    assert gate().keys(hits(T0, T0 + 60, T0 + 3600)) == {("1", "2024-03-30")}


def test_a_batch_over_midnight_carries_both_days_and_only_those_it_holds() -> None:
    # 23:00 on the 30th, then 01:00 on 1 April: the 31st has no hit of this batch and is not claimed.
    late = datetime(2024, 3, 30, 23, 0, tzinfo=timezone.utc).timestamp()
    assert gate().keys(hits(late, late + DAY + 7200)) == {("1", "2024-03-30"), ("1", "2024-04-01")}


def test_days_are_the_sites_own_in_its_time_zone() -> None:
    t = datetime(2024, 3, 30, 20, 0, tzinfo=timezone.utc).timestamp()  # 01:30 on the 31st in India
    days = gate({"1": "UTC+5.5", "2": "America/New_York"})
    assert days.keys(hits(t, sites=["1"])) == {("1", "2024-03-31")}
    assert days.keys(hits(t, t, sites=["1", "2"])) == {("1", "2024-03-31"), ("2", "2024-03-30")}
    assert days.asked == ["1", "2"]  # type: ignore[attr-defined]  # once per site
    assert days.keys(hits()) == set()


@pytest.mark.parametrize(
    ("name", "offset"),
    [("UTC", 0), ("UTC+5.5", 5.5), ("UTC-3", -3), ("Europe/Paris", 1), (None, 0), ("Mars/Olympus", 0), ("UTCx", 0)],
)
def test_matomo_time_zone_names(name: str | None, offset: float) -> None:
    winter = datetime(2024, 1, 15, 12, 0)
    assert zone(name).utcoffset(winter) == timedelta(hours=offset)


# --- the gate --------------------------------------------------------------------------------------------------


def test_the_first_request_of_a_new_day_goes_alone_then_every_one_at_once() -> None:
    days = gate()
    first = days.enter(hits(T0), lambda: False)
    assert first == {("1", "2024-03-30")}
    entered = threading.Event()

    def second() -> None:
        assert days.enter(hits(T0 + 5), lambda: False) == frozenset()
        entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(0.3)  # waits while the first request is under way
    days.leave(first, accepted=True)
    assert entered.wait(5)
    thread.join(5)
    assert days.enter(hits(T0 + 9), lambda: False) == frozenset()  # a known day: no wait, nothing claimed


def test_a_request_that_failed_leaves_its_new_day_to_the_next() -> None:
    days = gate()
    first = days.enter(hits(T0), lambda: False)
    assert first
    days.leave(first, accepted=False)
    assert days.enter(hits(T0), lambda: False) == first


def test_new_days_are_claimed_all_at_once_or_not_at_all() -> None:
    days = gate()
    held = days.enter(hits(T0), lambda: False)  # the 30th, under way
    assert held is not None
    stop = threading.Event()
    # The 30th and the 31st: the 30th is held, so the 31st is not claimed while this one waits...
    assert days.enter(hits(T0, T0 + DAY), lambda: stop.is_set() or bool(stop.set())) is None
    # ... and another request of the 31st alone goes now.
    assert days.enter(hits(T0 + DAY), lambda: False) == {("1", "2024-03-31")}


def test_a_waiting_request_gives_up_when_the_import_stops() -> None:
    days = gate()
    assert days.enter(hits(T0), lambda: False)
    began = time.monotonic()
    assert days.enter(hits(T0), lambda: time.monotonic() - began > 0.2) is None


def test_leaving_with_nothing_claimed_is_nothing() -> None:
    days = gate()
    days.leave(frozenset(), accepted=True)
    assert days.enter(hits(T0), lambda: False)


# --- through the real command ------------------------------------------------------------------------------------


def _log(path: Path, seed: int, hosts: bool = False) -> list[tuple[str, int]]:
    """Visitors over three of the site's days (India's), a request every few minutes each; (address, time)."""
    rng = random.Random(seed)
    start = datetime(2024, 2, 10, 16, 0, tzinfo=timezone.utc)
    reqs = []
    for n in range(50):
        t = start + timedelta(seconds=rng.randrange(50 * 3600))
        for page in range(rng.randrange(3, 12)):
            reqs.append((t, f"203.0.{n // 200}.{n % 200}", f"/v{n}/p{page}"))
            t += timedelta(seconds=rng.choice([20, 60, 300]))
    reqs.sort()
    with path.open("w") as f:
        for t, ip, page in reqs:
            stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
            vhost = ("www" if int(ip.rsplit(".", 1)[1]) % 2 else "shop") + ".example.com:80 " if hosts else ""
            f.write(f'{vhost}{ip} - - [{stamp}] "GET {page} HTTP/1.1" 200 100 "-" "Mozilla/5.0 (X11; Linux x86_64)"\n')
    return [(ip, int(t.timestamp())) for t, ip, _ in reqs]


@pytest.mark.parametrize(("recorders", "by_host"), [(1, True), (4, False), (8, False), (4, True)])
def test_many_recorders_give_matomo_the_visits_of_one(tmp_path: Path, recorders: int, by_host: bool) -> None:
    """One site (--idsite) in India's time zone; or two sites found by host name, the other in New York's."""
    want = _log(tmp_path / "access.log", recorders, hosts=by_host)
    with FakeMatomo(sites={"1": "https://www.example.com", "2": "https://shop.example.com"}) as server:
        server.timezones.update({"1": "UTC+5.5", "2": "America/New_York"})
        server.salt_window = 0.05
        result = run_cli(
            f"--url={server.url}",
            *(["--log-format-name=common_vhost"] if by_host else ["--idsite=1"]),
            "--no-progress",
            "--no-state",
            f"--recorders={recorders}",
            "--recorder-max-payload-size=8",
            f"--summary-json={tmp_path / 'summary.json'}",
            "-v",
            str(tmp_path / "access.log"),
            cwd=tmp_path,
            env={"IMPORT_LOGS_TOKEN_AUTH": "secret-token"},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert ("the first request of each new site and day" in result.stderr) == (recorders > 1)
        fingerprints = list(server.fingerprints)
    assert len(fingerprints) == len(want)
    salts: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for visitor, site, day, salt in fingerprints:
        salts[visitor, site, day].add(salt)
    split = {key: found for key, found in salts.items() if len(found) > 1}
    assert not split, f"{len(split)} of {len(salts)} visitor-days with two fingerprints, e.g. {next(iter(split))}"
    assert {(site, day) for _, site, day in salts} >= {("1", "2024-02-10"), ("1", "2024-02-11"), ("1", "2024-02-12")}
    # The days the summary lists are the site's (what Matomo's core:invalidate-report-data is given).
    zones = {"1": timezone(timedelta(hours=5.5)), "2": ZoneInfo("America/New_York")}
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for ip, t in want:
        site = "2" if by_host and int(ip.rsplit(".", 1)[1]) % 2 == 0 else "1"
        key = {"1": "www.example.com", "2": "shop.example.com"}[site] if by_host else "1"
        expected[key][datetime.fromtimestamp(t, zones[site]).strftime("%Y-%m-%d")] += 1
    figures = json.loads((tmp_path / "summary.json").read_text())
    assert figures["sent_per_site_day"] == {key: dict(days) for key, days in expected.items()}


def test_lanes_whose_gate_cannot_read_a_site_stop_the_import_with_its_error() -> None:
    """The gate may ask the tracker a site's time zone from a lane: an error there fails the import (raised by
    ``close``), it does not end the lane's thread silently and leave the import waiting."""
    from import_logs.backends import Batch, SendResult
    from import_logs.errors import ServerError
    from import_logs.pipeline.lanes import Lanes

    def unreachable(site: str) -> Any:
        raise ServerError("SitesManager.getSiteFromId: HTTP 502", url="http://t")

    sent: list[Batch] = []

    def send(batch: Batch) -> SendResult | None:
        sent.append(batch)
        return None

    gate = NewDays(lambda hits: ["1"], SiteDays(unreachable))
    lanes = Lanes(2, 2, send, lambda batch, _: None, threading.Event(), ["log"], new_days=gate)
    hits = Hits(lines=[1, 2, 3, 4], items=["a", "b", "c", "d"], visitors=["x", "y", "x", "y"], times=[T0] * 4,
                sources=[0] * 4)  # fmt: skip
    lanes.add(hits)
    with pytest.raises(ServerError, match="HTTP 502"):
        lanes.close()
    assert not sent
