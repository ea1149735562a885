"""The time merge of several sources' hits into one time order (#23): properties over any sources and any order of
calls, and the visits a tracker rebuilds from its output (the model in ``visits.py``)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visits import rebuild

from import_logs.pipeline.timemerge import Skewed, TimeMerge

Hit = tuple[int, int]  # (source, its index in the source's log order)
SMALL = st.integers(1, 12)


def drive(
    merge: TimeMerge[int],
    sources: list[list[float]],
    data: st.DataObject,
    *,
    firsts: bool = False,
    idle: bool = False,
    flush: bool = False,
    sizes: st.SearchStrategy[int] = SMALL,
) -> list[Hit]:
    """Feed ``sources`` (each a list of times in log order) to ``merge`` in batches of any size, interleaved at
    random, popping at random; each source ends when it has delivered all. Checks the window after every call."""
    for k in data.draw(st.permutations(range(len(sources)))):  # ties go by source id, whatever the opening order
        merge.open(k, min(sources[k]) if firsts and sources[k] else None)
    out: list[Hit] = []
    pos = [0] * len(sources)
    for k, times in enumerate(sources):
        if not times:
            merge.end(k)
    while left := [k for k, times in enumerate(sources) if pos[k] < len(times)]:
        k = data.draw(st.sampled_from(left))
        n = data.draw(sizes)
        batch = range(pos[k], min(pos[k] + n, len(sources[k])))
        merge.add(k, [sources[k][i] for i in batch], list(batch))
        pos[k] = batch.stop
        assert all(merge.held(j) <= merge.window for j in range(len(sources)))
        if pos[k] == len(sources[k]):
            merge.end(k)
        elif idle and data.draw(st.booleans()):
            merge.idle(k)
        if flush and data.draw(st.booleans()):
            out += merge.flush(data.draw(st.floats(0, 100)))
        if data.draw(st.booleans()):
            out += merge.pop_ready()
    out += merge.pop_ready()
    assert merge.held() == 0
    return out


def time_order(sources: list[list[float]]) -> list[Hit]:
    """The hits by time, ties by source, then log order."""
    return [(k, i) for _, k, i in sorted((t, k, i) for k, times in enumerate(sources) for i, t in enumerate(times))]


def out_of_order(sources: list[list[float]], out: list[Hit]) -> dict[int, int]:
    """Per source, the hits of ``out`` that come after a later one."""
    counts: dict[int, int] = {}
    latest = -math.inf
    for k, i in out:
        t = sources[k][i]
        if t < latest:
            counts[k] = counts.get(k, 0) + 1
        latest = max(latest, t)
    return counts


def disordered(starts: list[int], delays: list[float]) -> list[float]:
    """A server's log: each request stamped with its start, written at its end (``delays`` later)."""
    return [float(s) for _, s in sorted((s + d, s) for s, d in zip(sorted(starts), delays, strict=True))]


times_ = st.lists(st.integers(0, 100).map(float), max_size=40)
sorted_sources = st.lists(times_.map(sorted), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(sorted_sources, st.booleans(), st.data())
def test_sorted_sources_come_out_in_time_order_ties_by_source_then_log(
    sources: list[list[float]], firsts: bool, data: st.DataObject
) -> None:
    merge: TimeMerge[int] = TimeMerge(lateness=data.draw(st.sampled_from([0.0, 1.0, 60.0])), window=1000)
    out = drive(merge, sources, data, firsts=firsts)
    assert out == time_order(sources)
    assert merge.late == {}
    assert merge.max_disorder == {}
    assert merge.pop_skewed() == []


@st.composite
def servers(draw: st.DrawFn, lateness: float) -> list[list[float]]:
    """Logs whose own disorder stays within ``lateness``: requests written when they end, stamped with their start."""
    sources = []
    for _ in range(draw(st.integers(1, 5))):
        starts = draw(st.lists(st.integers(0, 200), max_size=40))
        delays = draw(st.lists(st.floats(0, lateness), min_size=len(starts), max_size=len(starts)))
        sources.append(disordered(starts, delays))
    return sources


with_lateness = st.sampled_from([0.0, 5.0, 60.0]).flatmap(lambda late: st.tuples(st.just(late), servers(late)))


@settings(max_examples=300, deadline=None)
@given(with_lateness, st.data())
def test_disorder_within_the_lateness_is_put_back_in_order(
    case: tuple[float, list[list[float]]], data: st.DataObject
) -> None:
    lateness, sources = case
    merge: TimeMerge[int] = TimeMerge(lateness=lateness, window=1000)
    out = drive(merge, sources, data, firsts=data.draw(st.booleans()))
    assert out == time_order(sources)
    assert merge.late == {}


@settings(max_examples=500, deadline=None)
@given(st.lists(times_, min_size=1, max_size=6), st.data())
def test_any_disorder_skew_idle_or_flush_sends_every_hit_once_and_counts_the_late_exactly(
    sources: list[list[float]], data: st.DataObject
) -> None:
    lateness = data.draw(st.sampled_from([0.0, 3.0, 20.0]))
    merge: TimeMerge[int] = TimeMerge(lateness=lateness, window=data.draw(st.integers(1, 30)))
    out = drive(merge, sources, data, firsts=data.draw(st.booleans()), idle=True, flush=True)
    assert sorted(out) == sorted((k, i) for k, times in enumerate(sources) for i in range(len(times)))
    assert merge.late == out_of_order(sources, out)
    for k, times in enumerate(sources):
        worst = max((max(times[:i]) - t for i, t in enumerate(times) if i), default=0.0)
        assert merge.max_disorder.get(k, 0.0) == max(worst, 0.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 400).map(float), min_size=40, max_size=300), min_size=1, max_size=3), st.data())
def test_big_batches_with_many_hits_out_of_order_are_merged_the_same(
    sources: list[list[float]], data: st.DataObject
) -> None:
    merge: TimeMerge[int] = TimeMerge(lateness=data.draw(st.sampled_from([0.0, 50.0, 500.0])), window=1000)
    out = drive(merge, sources, data, sizes=st.sampled_from([1, 5, 80, 300]))
    assert sorted(out) == sorted((k, i) for k, times in enumerate(sources) for i in range(len(times)))
    assert merge.late == out_of_order(sources, out)
    if merge.lateness == 500.0:  # no disorder beyond it: the time order
        assert out == time_order(sources)


def test_a_source_ahead_by_an_hour_is_held_up_to_the_window_then_sent_and_said_once() -> None:
    merge: TimeMerge[str] = TimeMerge(lateness=60, window=10)
    merge.open(1)
    merge.open(2)
    merge.add(1, [3600.0 + i for i in range(8)], [f"a{i}" for i in range(8)])
    assert merge.pop_ready() == []  # source 2 has delivered nothing: it might start earlier
    merge.add(1, [3608.0 + i for i in range(8)], [f"a{i}" for i in range(8, 16)])
    assert merge.held(1) == 10
    assert merge.pop_ready() == [(1, f"a{i}") for i in range(6)]
    assert merge.pop_skewed() == [Skewed(ahead=1, behind=2, lag=math.inf, window=10)]
    merge.add(2, [0.0, 1.0], ["b0", "b1"])
    merge.add(1, [3616.0 + i for i in range(5)], [f"a{i}" for i in range(16, 21)])
    assert merge.pop_ready() == [(2, "b0"), (2, "b1"), (1, "a6"), (1, "a7"), (1, "a8"), (1, "a9"), (1, "a10")]
    assert merge.late == {2: 2}
    assert merge.pop_skewed() == []  # once per pair
    merge.end(2)
    merge.end(1)
    assert merge.pop_ready() == [(1, f"a{i}") for i in range(11, 21)]


def test_the_skew_names_the_source_behind_and_by_how_much() -> None:
    merge: TimeMerge[int] = TimeMerge(lateness=60, window=4)
    merge.open(0)
    merge.open(1)
    merge.add(1, [100.0], [0])
    merge.add(0, [3700.0, 3701.0, 3702.0, 3703.0, 3704.0], [0, 1, 2, 3, 4])
    assert merge.pop_skewed() == [Skewed(ahead=0, behind=1, lag=3604.0, window=4)]
    assert merge.pop_ready() == [(1, 0), (0, 0)]  # what the other holds up to the cut goes too, in order


def test_a_dense_source_holds_the_window_and_says_what_span_it_covers() -> None:
    merge: TimeMerge[int] = TimeMerge(lateness=60, window=5)
    merge.open(0)
    merge.add(0, [float(t) for t in range(10)], list(range(10)))  # 10 hits within 60 s
    assert merge.held(0) == 5
    assert merge.pop_skewed() == [Skewed(ahead=0, behind=None, lag=4.0, window=5)]
    merge.add(0, [3.0], [10])  # within the lateness, but older than what the window let go
    assert merge.late == {0: 1}
    merge.end(0)
    assert [p for _, p in merge.pop_ready()] == [0, 1, 2, 3, 4, 10, 5, 6, 7, 8, 9]


def test_sources_opened_with_their_first_time_let_the_earlier_ones_through() -> None:
    """A rotated series: access.log.1 then access.log; the second is read only when the first reaches it."""
    merge: TimeMerge[str] = TimeMerge(lateness=10)
    merge.open(0, first=0.0)
    merge.open(1, first=1000.0)
    assert merge.holding() == 0
    merge.add(0, [0.0, 500.0, 995.0], ["a", "b", "c"])
    assert merge.pop_ready() == [(0, "a"), (0, "b")]  # up to 1000 - 10 s: source 1 cannot have older hits
    assert merge.holding() == 0
    merge.add(0, [1005.0], ["d"])
    assert merge.holding() == 1  # the importer starts reading source 1 now
    assert merge.pop_ready() == []
    merge.add(1, [999.0, 1010.0], ["x", "y"])
    merge.end(0)
    assert merge.pop_ready() == [(0, "c"), (1, "x")]
    merge.end(1)
    assert merge.pop_ready() == [(0, "d"), (1, "y")]
    assert merge.late == {}


def test_an_idle_or_ended_source_does_not_hold_the_others() -> None:
    merge: TimeMerge[str] = TimeMerge(lateness=5)
    merge.open(0)
    merge.open(1)
    merge.open(2)
    merge.add(0, [10.0, 20.0, 30.0], ["a", "b", "c"])
    merge.add(2, [12.0], ["z"])
    assert merge.pop_ready() == []  # source 1 delivered nothing
    merge.idle(1)
    assert merge.watermark() == 7.0
    merge.end(2)
    assert merge.pop_ready() == [(0, "a"), (2, "z"), (0, "b")]  # up to 30 - 5: source 0 itself may still reorder
    assert merge.holding() == 0
    merge.add(1, [15.0, 40.0], ["p", "q"])  # awake again: it holds the others from now on
    assert merge.late == {1: 1}
    assert merge.pop_ready() == [(1, "p")]  # late: sent at once; 30 waits for 40 - 5
    merge.idle(0)
    merge.idle(1)
    assert merge.pop_ready() == [(0, "c"), (1, "q")]
    assert merge.held() == 0


def test_flush_sends_what_waited_long_enough_and_what_comes_older_is_late() -> None:
    """--follow: a quiet source must not keep a busy one's hits for longer than the flush interval."""
    merge: TimeMerge[str] = TimeMerge(lateness=60)
    merge.open(0)
    merge.open(1)
    merge.add(0, [100.0, 101.0, 190.0], ["a", "b", "c"])
    assert merge.flush(before=150.0) == [(0, "a"), (0, "b")]
    merge.add(1, [95.0, 90.0, 160.0], ["x", "w", "y"])
    assert merge.late == {1: 2}
    assert merge.max_disorder == {1: 5.0}
    assert merge.flush() == [(1, "x"), (1, "w"), (1, "y"), (0, "c")]  # the late ones at once, as they came


def test_one_sorted_source_holds_only_its_last_lateness_of_hits() -> None:
    merge: TimeMerge[int] = TimeMerge(lateness=60)
    merge.open(0)
    for start in range(0, 10_000, 1000):
        merge.add(0, [float(t) for t in range(start, start + 1000)], list(range(start, start + 1000)))
        assert [p for _, p in merge.pop_ready()] == list(range(max(0, start - 61), start + 939))
        assert merge.held() == 61  # the last 60 s, both ends in


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: TimeMerge(lateness=-1), "lateness must be"),
        (lambda: TimeMerge(lateness=math.inf), "lateness must be"),
        (lambda: TimeMerge(window=0), "window must be"),
        (lambda: TimeMerge().add(3, [1.0], [1]), "source 3 is not open"),
        (lambda: TimeMerge().end(3), "source 3 is not open"),
    ],
)
def test_wrong_calls(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_wrong_calls_on_a_source() -> None:
    merge: TimeMerge[int] = TimeMerge()
    merge.open(0)
    with pytest.raises(ValueError, match="already open"):
        merge.open(0)
    with pytest.raises(ValueError, match="2 times for 1 payloads"):
        merge.add(0, [1.0, 2.0], [1])
    merge.add(0, [1.0], [1])
    merge.end(0)
    with pytest.raises(ValueError, match="source 0 is not open"):
        merge.add(0, [3.0], [2])


def browsing(rng: random.Random, visitors: int) -> list[tuple[str, int]]:
    """Visitors browsing over two days (some visits cross midnight), in time order."""
    hits = []
    for n in range(visitors):
        t = 1_707_523_200 + rng.randrange(2 * 86_400)
        for _ in range(rng.randrange(1, 15)):
            hits.append((t, f"198.51.100.{n}"))
            t += rng.choice([rng.randrange(1, 120), rng.randrange(120, 1700), rng.randrange(1700, 4000)])
    return [(visitor, t) for t, visitor in sorted(hits)]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 8), st.sampled_from([0.0, 60.0]), st.data())
def test_load_balanced_servers_merged_give_the_visits_of_one_sorted_log(
    seed: int, servers: int, lateness: float, data: st.DataObject
) -> None:
    rng = random.Random(seed)
    truth = browsing(rng, 60)
    logs: list[list[tuple[str, int]]] = [[] for _ in range(servers)]
    for hit in truth:
        logs[rng.randrange(servers)].append(hit)
    merge: TimeMerge[int] = TimeMerge(lateness=lateness)
    out = drive(merge, [[float(t) for _, t in log] for log in logs], data)
    received = [logs[k][i] for k, i in out]
    assert sorted(received) == sorted(truth)
    assert rebuild(received) == rebuild(truth)
    one_after_the_other = [hit for log in logs for hit in log]  # what the importer sends today
    assert rebuild(one_after_the_other) != rebuild(truth)


def test_servers_writing_lines_when_requests_end_give_the_visits_of_their_start_times() -> None:
    rng = random.Random(23)
    truth = browsing(rng, 80)
    logs: list[list[tuple[str, int]]] = [[] for _ in range(3)]
    for hit in truth:  # written up to 50 s after it started
        logs[rng.randrange(3)].append((hit[1] + rng.random() * 50, hit))
    sources = [[hit for _, hit in sorted(log)] for log in logs]
    merge: TimeMerge[tuple[str, int]] = TimeMerge(lateness=60)
    received = []
    for k in range(3):
        merge.open(k)
    for step in range(0, max(map(len, sources)), 7):
        for k, log in enumerate(sources):
            batch = log[step : step + 7]
            merge.add(k, [float(t) for _, t in batch], batch)
        received += [hit for _, hit in merge.pop_ready()]
    for k in range(3):
        merge.end(k)
    received += [hit for _, hit in merge.pop_ready()]
    assert merge.late == {}
    assert rebuild(received) == rebuild(truth)
    assert rebuild([hit for log in sources for hit in log]) != rebuild(truth)


def test_in_order_says_once_when_a_log_is_far_behind_and_sends_everything() -> None:
    """InOrder, the importer's side of the merge: a server whose log starts an hour after the other's fills the
    window; the import says so once, with the figures, and every hit goes to the lanes once (#23 item 6)."""
    from import_logs.events import Notice
    from import_logs.hits import Hits
    from import_logs.pipeline.order import InOrder

    sent: list[str] = []
    said: list[str] = []

    def send(hits: Hits) -> bool:
        sent.extend(hits.items)
        return True

    order = InOrder(send, 60.0, lambda e: said.append(e.message) if isinstance(e, Notice) else None, ["web1", "web2"],
                    window=10)  # fmt: skip

    def block(source: int, start: float, count: int) -> Hits:
        times = [start + k for k in range(count)]
        return Hits(items=[f"{source}:{t:.0f}" for t in times], visitors=["v"] * count, times=times)

    order.open(0)
    order.open(1)
    assert order.add(1, block(1, 3600.0, 25))  # web2 is an hour ahead: web1 has not delivered yet
    assert order.add(0, block(0, 0.0, 5))
    assert order.end(0) and order.end(1) and order.flush()
    assert sorted(sent) == sorted([f"1:{3600 + k}" for k in range(25)] + [f"0:{k}" for k in range(5)])
    assert len(said) == 1
    assert "web1 has delivered no line yet; web2's hits are sent" in said[0] and "more than 10 held" in said[0]
    assert order.late == 5  # web1's hits came after web2's later ones had to go
