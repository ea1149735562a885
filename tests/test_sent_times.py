"""The time each request carries, on every bundled sample and every backend: whole seconds in UTC (#28).

Logs with sub-second times (ELB, Cloudflare, HAProxy, ...) were sent with a fractional ``cdt``; both reference
importers send ``%Y-%m-%d %H:%M:%S`` and the trackers document no fraction. The fraction is dropped, not rounded,
so a hit is never moved into the next second (or day).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner
from conftest import SAMPLES

from import_logs.cli import main

SAMPLE_LOGS = sorted(str(p) for p in SAMPLES.glob("*.log"))
EVERYTHING = ("--enable-http-errors", "--enable-http-redirects", "--enable-bots", "--enable-static")
CDT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def saved(backend: str, *args: str) -> list[str]:
    result = CliRunner().invoke(
        main,
        ["--workers=1", "--no-state", f"--backend={backend}", "--idsite=1", "--save-requests=-", *EVERYTHING, *args],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("sample", SAMPLE_LOGS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_every_sample_sends_whole_seconds_to_every_backend(sample: str) -> None:
    piwikpro = [json.loads(line)["cdt"] for line in saved("piwikpro", sample)]
    matomo = [parse_qs(json.loads(line)[1:])["cdt"][0] for line in saved("matomo", sample)]
    pirsch = [json.loads(line)["time"] for line in saved("pirsch", "--log-hostname=www.example.com", sample)]
    assert piwikpro, "a sample with no request checks nothing"
    assert all(CDT.fullmatch(t) for t in piwikpro), piwikpro[:3]
    assert matomo == piwikpro
    assert all(RFC3339.fullmatch(t) for t in pirsch), pirsch[:3]
    assert [t.replace("T", " ")[:-1] for t in pirsch] == piwikpro[: len(pirsch)]


def test_a_fraction_is_dropped_not_rounded(tmp_path: Path) -> None:
    """The last microsecond of a day stays in that day."""
    first = (SAMPLES / "elb.log").read_text().splitlines()[0]
    assert first.split()[1] == "2024-02-10T21:42:07.004711Z"
    log = tmp_path / "elb.log"
    log.write_text(first.replace("2024-02-10T21:42:07.004711Z", "2024-02-10T23:59:59.999999Z") + "\n")
    for backend, key in (("piwikpro", "cdt"), ("pirsch", "time")):
        sent = json.loads(saved(backend, "--log-hostname=www.example.com", str(log))[0])[key]
        assert sent in ("2024-02-10 23:59:59", "2024-02-10T23:59:59Z")
