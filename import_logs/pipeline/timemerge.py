"""The time merge: the hits of several sources, each in its own log order, sent on in one time order (#23).

Trackers rebuild visits from the order they receive a visitor's hits in, so the hits of two load-balanced servers'
logs must reach them interleaved by time, not one file after the other. :class:`TimeMerge` is the pure, synchronous
core of that merge: the importer gives it each source's hits as they are read (``add``), says when a source ends
(``end``) or has gone quiet (``idle``), and takes what is due (``pop_ready``), in time order across the sources.
It does no I/O and knows nothing of blocks, lines or lanes: a hit is a time (Unix seconds) and an opaque payload.

The watermark. Each open source that still holds the others back (neither ended nor idle) has a ``high`` mark:
the latest time it delivered, or the first time it announced when opened. A source's own log may be out of order
by up to ``lateness`` seconds (servers stamp a request's start and write its line at its end), so none of its
later hits can be older than ``high - lateness``; hits older than the minimum of that over the sources are due.
Due hits leave in time order, ties in the order of the source ids, then in log order.

A hit older than what was already sent (a disorder beyond ``lateness``, a source that came back after being
idle, a skew the window could not hold) cannot be put in order any more: it is sent at once, and counted in
``late``; no hit is ever dropped. ``max_disorder`` says how far back in its own log each source reached, which
is the lateness it would have needed.

Memory. At most ``window`` hits are held per source: when a source runs so far ahead of another that it would
hold more, its oldest hits are sent anyway (with whatever others hold up to their time), and the first time that
happens for a pair of sources a :class:`Skewed` record with the figures is kept for the importer to tell the user.

Cost. Each source holds its hits in two parallel lists sorted by (time, arrival): a batch in time order that starts
at or after the source's latest held hit is appended as it is (one C-level comparison with its sorted copy); of a
batch out of order, the hits as late as any before them are appended and the few others put in their place (or, when
many, merged with the tail they overlap); due hits are a prefix found by bisection. When one source has anything due
(a log that overlaps no other), its prefix is sliced off as is; only overlapping sources pay for a sort, which
Python's merge sort does in one pass over their already sorted prefixes.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import lt, not_, sub
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds of log time within which a source's own disorder is put back in order.
LATENESS = 60.0
#: Hits held at most per source: about 15 MB of encoded requests; at 12 hits a second (a million a day) it is
#: 28 minutes of log, and a source busier than 333 hits a second has its disorder put back in order over less
#: than 60 s (said once, see :class:`Skewed`).
WINDOW = 20_000


@dataclass(frozen=True)
class Skewed:
    """Source ``ahead`` held ``window`` hits waiting for source ``behind``, so its oldest were sent anyway: hits of
    ``behind`` older than those are sent late. ``lag`` is how far ``ahead`` is in log time (infinite when
    ``behind`` announced no first time and delivered nothing yet). ``behind`` is None when ``ahead`` itself holds
    the watermark: it has more than ``window`` hits within ``lateness`` seconds, and ``lag`` is the span of log
    time the window did hold."""

    ahead: int
    behind: int | None
    lag: float
    window: int


class _Source(Generic[T]):
    """One source's held hits, sorted by (time, arrival), and its marks."""

    __slots__ = ("ended", "high", "hits", "live", "seen", "times")

    def __init__(self, first: float) -> None:
        self.times: list[float] = []
        self.hits: list[tuple[int, T]] = []
        #: The latest time delivered, or announced as the first: what this source holds the watermark at.
        self.high = first
        #: The latest time delivered.
        self.seen = -math.inf
        #: Holds the watermark: neither ended nor idle.
        self.live = True
        #: Delivers nothing more; forgotten once it holds nothing.
        self.ended = False


class TimeMerge(Generic[T]):
    """Hits of several sources (``int`` ids) merged into one time order; see the module's description."""

    def __init__(self, lateness: float = LATENESS, window: int = WINDOW) -> None:
        if not (lateness >= 0 and math.isfinite(lateness)):
            raise ValueError(f"lateness must be a finite number of seconds >= 0, not {lateness!r}")
        if window < 1:
            raise ValueError(f"window must be at least 1 hit, not {window!r}")
        self.lateness = float(lateness)
        self.window = window
        self._sources: dict[int, _Source[T]] = {}
        self._out: list[tuple[int, T]] = []
        #: The latest time sent: a hit older than this is late.
        self._sent = -math.inf
        #: Hits sent out of time order, per source.
        self.late: dict[int, int] = {}
        #: Per source, how far back in log time a hit came after a later one of the same source (seconds).
        self.max_disorder: dict[int, float] = {}
        self._skews: list[Skewed] = []
        self._skewed: set[tuple[int, int | None]] = set()

    # -- what the importer tells it

    def open(self, source: int, first: float | None = None) -> None:
        """A source joins the merge. ``first``, its first hit's time when known, lets the others' hits up to then
        go before it delivers anything; without it, nothing goes until it delivers (or ends, or is idle)."""
        if source in self._sources:
            raise ValueError(f"source {source} is already open")
        self._sources[source] = _Source(-math.inf if first is None else float(first))

    def add(self, source: int, times: list[float], payloads: list[T]) -> None:
        """Hits of ``source``, in its log order: ``times[i]`` is the time of ``payloads[i]``. An idle source that
        delivers holds the watermark again."""
        s = self._open(source)
        if len(times) != len(payloads):
            raise ValueError(f"{len(times)} times for {len(payloads)} payloads")
        s.live = True
        if not times:
            return
        hits = list(zip(repeat(source), payloads))
        held = s.times
        first = times[0]
        if first >= self._sent and (not held or first >= held[-1]) and times == sorted(times):
            # In order, after all it holds: appended as it is (the common case, and all of a sorted log).
            if first < s.seen:
                self._disorder(source, s.seen - first)
            held.extend(times)
            s.hits.extend(hits)
            s.seen = max(s.seen, times[-1])
        else:
            self._merge_in(source, s, times, hits)
        s.high = max(s.high, s.seen)
        if len(held) > self.window:
            self._bound(source, s)

    def end(self, source: int) -> None:
        """``source`` delivers nothing more: it no longer holds the others back; what it holds goes in order."""
        s = self._open(source)
        s.live = False
        s.ended = True
        if not s.times:
            del self._sources[source]

    def idle(self, source: int) -> None:
        """``source`` has gone quiet (a followed file not written for a while): it no longer holds the others back
        until it delivers again; what it then delivers older than what was sent meanwhile is late."""
        s = self._open(source)
        s.live = False

    # -- what it gives back

    def pop_ready(self) -> list[tuple[int, T]]:
        """The hits due, as ``(source, payload)``, in the order they must be sent: late ones as they came, the
        others in time order (ties: by source id, then log order)."""
        self._release(self.watermark(), inclusive=False)
        out, self._out = self._out, []
        return out

    def flush(self, before: float = math.inf) -> list[tuple[int, T]]:
        """Every hit held older than ``before`` (all by default), due or not, in order, with those due anyway. A
        hit of any source older than what this sends is then late. For ``--follow``: ``before`` = the wall clock
        minus the flush interval bounds how long a hit waits for the others."""
        self._release(max(before, self.watermark()), inclusive=False)
        out, self._out = self._out, []
        return out

    def pop_skewed(self) -> list[Skewed]:
        """The :class:`Skewed` records kept since the last call (at most one per pair of sources)."""
        skews, self._skews = self._skews, []
        return skews

    def watermark(self) -> float:
        """Hits older than this are due: the minimum over the sources that hold the others back of their high mark
        less the lateness (infinite when none does)."""
        marks = [s.high for s in self._sources.values() if s.live]
        return min(marks) - self.lateness if marks else math.inf

    def holding(self) -> int | None:
        """The source that holds the watermark (the lowest id among equals), None when none does. The importer
        starts reading a source it opened with its first time when that source is the one holding the others."""
        live = [(s.high, k) for k, s in self._sources.items() if s.live]
        return min(live)[1] if live else None

    def held(self, source: int | None = None) -> int:
        """How many hits are held, of ``source`` or of all."""
        if source is not None:
            s = self._sources.get(source)
            return len(s.times) if s is not None else 0
        return sum(len(s.times) for s in self._sources.values())

    # -- inside

    def _open(self, source: int) -> _Source[T]:
        s = self._sources.get(source)
        if s is None or s.ended:
            raise ValueError(f"source {source} is not open")
        return s

    def _disorder(self, source: int, seconds: float) -> None:
        if seconds > self.max_disorder.get(source, 0.0):
            self.max_disorder[source] = seconds

    def _merge_in(self, source: int, s: _Source[T], times: list[float], hits: list[tuple[int, T]]) -> None:
        """A batch out of order, or older than what was sent: late hits go at once; of the others, those in order
        (as late as any before them) are appended, and the few that came after later ones are merged in."""
        peaks = list(accumulate(times, max, initial=s.seen))  # peaks[i]: the latest time before hit i
        worst = max(map(sub, peaks, times))
        if worst > 0:
            self._disorder(source, worst)
        seen, sent = peaks[-1], self._sent
        if min(times) < sent:  # rare: older than what was sent (a disorder beyond the lateness, a skew)
            late = list(map(lt, times, repeat(sent)))
            self.late[source] = self.late.get(source, 0) + sum(late)
            self._out.extend(compress(hits, late))  # sent at once, as they came
            kept = list(map(not_, late))
            times, hits = list(compress(times, kept)), list(compress(hits, kept))
            peaks = list(accumulate(times, max, initial=s.seen))
        s.seen = seen
        if not times:
            return
        behind = list(map(lt, times, peaks))  # came after a later hit of the source
        ahead = list(map(not_, behind))
        held, held_hits = s.times, s.hits
        held.extend(compress(times, ahead))  # as late as any before: in order after all it holds
        held_hits.extend(compress(hits, ahead))
        back_times, back_hits = list(compress(times, behind)), list(compress(hits, behind))
        if len(back_times) <= 32:  # a few long requests: each put in its place (after its equals: they came first)
            for t, hit in zip(back_times, back_hits, strict=True):
                at = bisect_right(held, t)
                held.insert(at, t)
                held_hits.insert(at, hit)
            return
        at = bisect_right(held, min(back_times))  # the part they overlap, merged with a stable sort
        tail = held[at:] + back_times
        tail_hits = held_hits[at:] + back_hits
        order = sorted(range(len(tail)), key=tail.__getitem__)
        held[at:] = [tail[i] for i in order]
        held_hits[at:] = [tail_hits[i] for i in order]

    def _bound(self, source: int, s: _Source[T]) -> None:
        """``source`` holds more than the window: send what is due, then its oldest hits anyway."""
        self._release(self.watermark(), inclusive=False)
        over = len(s.times) - self.window
        if over <= 0:
            return
        cutoff = s.times[over - 1]
        holder = self.holding()
        behind = holder if holder is not None and holder != source else None
        if (source, behind) not in self._skewed:
            self._skewed.add((source, behind))
            lag = s.high - self._sources[behind].high if behind is not None else s.times[-1] - s.times[over]
            self._skews.append(Skewed(source, behind, lag, self.window))
        self._release(cutoff, inclusive=True)

    def _release(self, cutoff: float, *, inclusive: bool) -> None:
        """Send every held hit older than ``cutoff`` (or as old, when ``inclusive``), in order across sources."""
        find = bisect_right if inclusive else bisect_left
        due: list[tuple[int, _Source[T], int]] = []
        for k in sorted(self._sources):
            s = self._sources[k]
            if s.times and (s.times[0] <= cutoff if inclusive else s.times[0] < cutoff):
                due.append((k, s, find(s.times, cutoff)))
        if not due:
            return
        if len(due) == 1:  # one source has anything due: its prefix, as it is
            _, s, n = due[0]
            self._sent = max(self._sent, s.times[n - 1])
            self._out.extend(s.hits[:n])
        else:
            times: list[float] = []
            hits: list[tuple[int, T]] = []
            for _, s, n in due:
                self._sent = max(self._sent, s.times[n - 1])
                times += s.times[:n]
                hits += s.hits[:n]
            # Sorted prefixes laid end to end in source order: a stable sort merges them, ties by source then log.
            self._out.extend(map(hits.__getitem__, sorted(range(len(times)), key=times.__getitem__)))
        for k, s, n in due:
            del s.times[:n]
            del s.hits[:n]
            if s.ended and not s.times:
                del self._sources[k]
