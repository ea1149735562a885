"""The lanes in one process, with a fake ``send``: order per visitor, the first error, a stop (#12)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from import_logs.backends import Batch, SendResult
from import_logs.errors import ServerError
from import_logs.hits import Hits
from import_logs.pipeline.lanes import Lanes


def as_hits(refs: list[tuple[int, int]], items: list[str], visitors: list[str]) -> Hits:
    return Hits(lines=[n for _, n in refs], items=items, visitors=visitors, sources=[s for s, _ in refs])


class Recorder:
    """A server that answers after a random pause, and keeps what it got in arrival order."""

    def __init__(self, *, fail_on: str | None = None, pause: float = 0.002) -> None:
        self.got: list[tuple[str, str]] = []  # (visitor, item)
        self.lock = threading.Lock()
        self.fail_on = fail_on
        self.pause = pause
        self.rng = random.Random(5)

    def send(self, batch: Batch) -> SendResult | None:
        time.sleep(self.rng.uniform(0, self.pause))
        if self.fail_on is not None and self.fail_on in batch.items:
            raise ServerError("refused", url="http://test")
        with self.lock:
            self.got += list(zip(batch.visitors, batch.items, strict=True))
        return None


def test_each_visitors_hits_arrive_in_the_order_of_the_log() -> None:
    server, accepted = Recorder(), []
    lanes = Lanes(4, 3, server.send, lambda batch, _: accepted.extend(batch.refs), threading.Event(), ["log"])
    rng = random.Random(1)
    hits = [(f"10.0.0.{rng.randint(1, 12)}", f"hit-{n}") for n in range(600)]
    for start in range(0, len(hits), 50):  # blocks of 50, as the merge adds them
        chunk = hits[start : start + 50]
        refs = [(0, start + k + 1) for k in range(len(chunk))]
        assert lanes.add(as_hits(refs, [item for _, item in chunk], [visitor for visitor, _ in chunk]))
    lanes.close()
    assert sorted(accepted) == [(0, n) for n in range(1, 601)]
    for visitor in {v for v, _ in hits}:
        assert [i for v, i in server.got if v == visitor] == [i for v, i in hits if v == visitor]


def test_the_first_error_of_a_lane_stops_them_all_and_is_raised() -> None:
    server = Recorder(fail_on="hit-7")
    lanes = Lanes(2, 2, server.send, lambda batch, _: None, threading.Event(), ["log"])
    for n in range(0, 400, 20):
        if not lanes.add(
            as_hits([(0, k) for k in range(n, n + 20)], [f"hit-{k}" for k in range(n, n + 20)], ["a", "b"] * 10)
        ):
            break
    with pytest.raises(ServerError, match="refused"):
        lanes.close()
    assert len(server.got) < 400


def test_close_returns_once_asked_to_stop_and_abort_is_bounded() -> None:
    release = threading.Event()

    def stuck(batch: Batch) -> SendResult | None:
        release.wait(10)  # a request under way that does not end by itself
        return None

    stop = threading.Event()
    lanes = Lanes(1, 1, stuck, lambda batch, _: None, stop, ["log"])
    lanes.add(as_hits([(0, 1)], ["hit"], ["a"]))
    threading.Timer(0.2, stop.set).start()
    lanes.close()  # returns after the stop, not after the request
    assert not lanes.idle()
    lanes.abort(0.2)
    assert not lanes.idle()  # still under way: the caller goes on, the request is left to end
    release.set()
