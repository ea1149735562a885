"""The order in which the jobs of several logs are made, so that their hits can be sent in one time order.

The files of one log (its rotated copies, oldest first) do not overlap: they are read one after the other. The
logs of several servers or virtual hosts do: they are read side by side, at most :data:`OPEN_AT_ONCE` at once,
each next job taken from the log the time merge waits for (:mod:`~import_logs.pipeline.timemerge`), so that
what the merge holds stays within a block or two of each log.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from import_logs.events import EventSink, Notice
from import_logs.hits import Hits
from import_logs.pipeline.timemerge import Skewed, TimeMerge
from import_logs.sources.kinds import Source

J = TypeVar("J")

#: Hits a source may hold in the merge, waiting for the others.
WINDOW = 50_000
#: Logs read side by side at most (each holds an open file and, in the time merge, up to its window of hits).
OPEN_AT_ONCE = 16


def logs_of(sources: Sequence[Source]) -> list[deque[Source]]:
    """The sources grouped by log: a log's rotated copies and live file (oldest first, as given) in one chain;
    standard input and streams each alone."""
    chains: dict[str, deque[Source]] = {}
    for source in sources:
        chains.setdefault(source.log, deque()).append(source)
    return list(chains.values())


def side_by_side(
    chains: Iterable[deque[Source]],
    jobs_of: Callable[[Source], Iterator[J]],
    waiting_for: Callable[[], int | None],
    opening: Callable[[int], None],
    at_once: int,
    *,
    period: Callable[[Source], float | None] | None = None,
    most: int = 0,
) -> Iterator[J]:
    """The jobs of the sources of ``chains`` (taken as they are needed): each chain's sources one after the
    other, the chains side by side, at most ``at_once`` at a time; the next job from the source ``waiting_for()``
    names when it is being read, else from the first one being read. ``opening`` is told of each source as it
    starts to be read (the merge then waits for its first hits).

    ``period`` gives a source's period when its name tells it (a CDN's objects: one per edge server and hour, the
    hour in the key): a chain whose period is not after the latest of those being read overlaps them, and is
    opened at once beside them, up to ``most`` in all, rather than after one of them ends, when the merge would
    have sent the hits it should have gone among."""
    waiting = iter(chains)
    more = True
    peeked: deque[Source] | None = None
    reading: dict[int, tuple[deque[Source], Iterator[J]]] = {}
    periods: dict[int, float | None] = {}

    def start(chain: deque[Source]) -> None:
        source = chain.popleft()
        opening(source.index)
        reading[source.index] = (chain, jobs_of(source))
        if period is not None:
            periods[source.index] = period(source)

    def overlaps(chain: deque[Source]) -> bool:
        if period is None or len(reading) >= most or not periods:
            return False
        mine, theirs = period(chain[0]), periods.values()
        return mine is not None and None not in theirs and mine <= max(p for p in theirs if p is not None)

    while more or peeked is not None or reading:
        while True:
            if peeked is None and more:
                peeked = next(waiting, None)
                more = peeked is not None
            if peeked is None:
                break
            if not peeked:
                peeked = None
            elif len(reading) < at_once or overlaps(peeked):
                start(peeked)
                peeked = None
            else:
                break
        if not reading:
            continue
        wanted = waiting_for()
        index = wanted if wanted in reading else min(reading)
        chain, jobs = reading[index]
        job = next(jobs, None)
        if job is None:
            del reading[index]
            periods.pop(index, None)
            if chain:
                start(chain)
            continue
        yield job


class InOrder:
    """The hits of every source on their way to the lanes, in one time order (a :class:`TimeMerge`): each
    visitor's hits reach the tracker as they happened, across inputs, whatever their number. Late hits (a log's
    disorder beyond ``lateness``, or a source far behind the others) are sent at once and counted."""

    def __init__(
        self,
        send: Callable[[Hits], bool],
        lateness: float,
        on_event: EventSink,
        names: Sequence[str],
        window: int = WINDOW,
    ) -> None:
        self._send = send
        self.merge: TimeMerge[tuple[Hits, int]] = TimeMerge(lateness=lateness, window=window)
        self._on_event = on_event
        self._names = names
        #: The sources in the merge (a followed file joins with its first block, leaves at its end), and when each
        #: last delivered hits (monotonic seconds).
        self._in: dict[int, float] = {}

    @property
    def late(self) -> int:
        return sum(self.merge.late.values())

    def open(self, source: int) -> None:
        """A source is about to be read: nothing of the others goes past its first hit before it delivers."""
        if source not in self._in:
            self._in[source] = time.monotonic()
            self.merge.open(source)

    def add(self, source: int, hits: Hits) -> bool:
        """A block's hits, in their log order. False once the lanes stop."""
        self.open(source)
        self._in[source] = time.monotonic()
        self.merge.add(source, hits.times, [(hits, k) for k in range(len(hits))])
        return self._out(self.merge.pop_ready())

    def end(self, source: int) -> bool:
        """The source has no more hits: it holds the others back no longer."""
        if self._in.pop(source, None) is None:
            return True
        self.merge.end(source)
        return self._out(self.merge.pop_ready())

    def quiet(self, seconds: float) -> bool:
        """``--follow``: the logs that delivered nothing for ``seconds`` hold the others back no longer (until
        they write again), so that hits reach the tracker within seconds of each other's logs."""
        now = time.monotonic()
        for source, delivered in self._in.items():
            if now - delivered >= seconds:
                self.merge.idle(source)
        return self._out(self.merge.pop_ready())

    def flush(self) -> bool:
        """Every hit held goes, in order (the end of the run)."""
        return self._out(self.merge.flush())

    def waiting_for(self) -> int | None:
        return self.merge.holding()

    def _out(self, ready: list[tuple[int, tuple[Hits, int]]]) -> bool:
        for skew in self.merge.pop_skewed():
            self._on_event(Notice(self._skew_text(skew), warning=True))
        if not ready:
            return True
        return self._send(gather([payload for _, payload in ready]))

    def _skew_text(self, skew: Skewed) -> str:
        ahead = self._name(skew.ahead)
        if skew.behind is None:
            return (
                f"{ahead}: more than {skew.window:,} hits within --lateness; its disorder is put back in order over "
                f"{skew.lag:,.0f} s only, older hits are sent late"
            )
        behind = self._name(skew.behind)
        lag = "has delivered no line yet" if math.isinf(skew.lag) else f"is {skew.lag:,.0f} s behind {ahead}"
        return (
            f"{behind} {lag}; {ahead}'s hits are sent without waiting for it (more than {skew.window:,} held), so "
            f"{behind}'s hits older than those are sent late"
        )

    def _name(self, source: int) -> str:
        return self._names[source] if source < len(self._names) else f"source {source}"


def gather(released: list[tuple[Hits, int]]) -> Hits:
    """The released hits as one :class:`Hits`, in their order. The logs of several servers interleave hit by hit,
    so the blocks they come from are put end to end (each column extended at C speed) and the hits taken from
    there by position, column by column, rather than a run at a time."""
    first = released[0][0]
    if len(released) == len(first) and released[-1][0] is first and all(k == i for i, (_, k) in enumerate(released)):
        return first  # one whole block, in its order: nothing to copy
    arena = Hits()
    offsets: dict[int, int] = {}
    at = offsets.get
    positions: list[int] = []
    add = positions.append
    for hits, k in released:
        offset = at(id(hits))
        if offset is None:
            offset = offsets[id(hits)] = len(arena)
            arena.extend(hits)
        add(offset + k)
    return arena.select(positions)
