"""A bucket that keeps growing, imported by cron through the real command against moto's S3 on 127.0.0.1 (issue
#26, item 5): over several runs every line is sent once, the objects done are folded into one mark so that the
state does not grow with the bucket, runs list only the keys after the mark, and the daily whole listing finds an
object uploaded late under an older key and an old key uploaded again."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("obstore")
pytest.importorskip("moto")

from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from s3_server import CREDENTIALS, client, moto_server

PAGES_PER_OBJECT = 2


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def log(first: int) -> bytes:
    """An ALB-like log of two requests, pages ``/p/first`` and the next."""
    rows = [
        f'203.0.113.{n % 200} - - [29/Nov/2026:10:{n % 60:02d}:00 +0000] "GET /p/{n} HTTP/1.1" 200 512 "-" "-"\n'
        for n in range(first, first + PAGES_PER_OBJECT)
    ]
    return gzip.compress("".join(rows).encode())


def put(c: Any, bucket: str, numbers: range, *, suffix: str = "", page: int | None = None) -> list[int]:
    """Objects named by time; the pages they hold."""
    sent = []
    for n in numbers:
        first = page if page is not None else n * 10
        c.put_object(Bucket=bucket, Key=f"alb/2026/11/29/node1_{n:05d}{suffix}.log.gz", Body=log(first))
        sent += range(first, first + PAGES_PER_OBJECT)
    return sent


def test_a_growing_bucket_by_cron_every_line_once_and_a_state_that_does_not_grow_with_it(
    s3: str, tmp_path: Path
) -> None:
    c = client(s3)
    c.create_bucket(Bucket="growing")
    state = tmp_path / "state.json"
    url = "s3://growing/alb/2026/**/*.log.gz"
    env = {**SECRET_ENV, **CREDENTIALS, "AWS_ENDPOINT_URL": s3, "AWS_EC2_METADATA_DISABLED": "true"}
    expected: list[int] = []

    def run(fake: FakePiwikPro, code: int = 0) -> str:
        time.sleep(1.5)  # the store's times are to the second: every object is older than the run's settling
        args = [*piwik_args(fake), f"--state-file={state}", "--objects-settle=0", "--workers=1", url]
        result = run_cli(*args, cwd=tmp_path, env=env, timeout=120)
        assert result.returncode == code, result.stderr
        return result.stderr

    def a_day_goes_by() -> None:
        data = json.loads(state.read_text())
        data["listings"][0]["listed"] = "2026-01-01T00:00:00+00:00"
        state.write_text(json.dumps(data))

    def objects_in_state() -> int:
        return sum(1 for e in json.loads(state.read_text())["sources"] if e["object"])

    with FakePiwikPro() as fake:
        expected += put(c, "growing", range(0, 120))
        run(fake)  # all read; none was done when listed, so none folded yet
        assert objects_in_state() == 120
        run(fake, code=6)  # nothing new; the whole listing folds every object
        assert objects_in_state() == 0
        mark = json.loads(state.read_text())["listings"][0]
        assert mark["after"] == "alb/2026/11/29/node1_00119.log.gz" and mark["folded"] == 120

        for batch in range(3):  # cron runs: a few new objects each time, listed from the mark
            new = range(120 + 30 * batch, 150 + 30 * batch)
            expected += put(c, "growing", new)
            stderr = run(fake)
            assert f"{30 * (batch + 1)} objects listed after alb/2026/11/29/node1_00119.log.gz" in stderr, stderr
            assert objects_in_state() == 30 * (batch + 1)  # no whole listing yet: they keep their entries

        # A file delivered late under an older key, and an old key uploaded again with new lines: a listing from
        # the mark does not see them; the whole listing of the next day does.
        expected += put(c, "growing", range(50, 51), suffix="-late", page=98000)
        expected += put(c, "growing", range(7, 8), page=99000)
        stderr = run(fake, code=6)
        assert "90 objects listed after" in stderr and "90 of them imported before" in stderr
        a_day_goes_by()
        run(fake)  # both read; the fold stops below them (they were not done when listed): the mark stays
        a_day_goes_by()
        run(fake, code=6)  # now every object is folded
        run(fake, code=6)

    sent = Counter(int(hit["url"].rsplit("/", 1)[1]) for hit in fake.hits)
    assert sorted(sent) == sorted(expected)  # 0 lost
    assert max(sent.values()) == 1  # 0 twice
    data = json.loads(state.read_text())
    assert objects_in_state() == 0 and data["version"] == 2
    assert data["listings"][0]["after"] == "alb/2026/11/29/node1_00209.log.gz"
    assert state.stat().st_size < 1000  # 212 objects, one mark
