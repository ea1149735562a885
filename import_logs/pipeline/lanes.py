"""Lanes (the reference's "recorders"): threads that send batches concurrently, each visitor's hits in order.

A visitor (client IP, or the logged visitor id when replaying) sticks to one lane while any of its hits is
unconfirmed: queued, pending or being sent. Only once the server accepted all of them may its next hit go to
another lane, the least loaded. So the server receives each visitor's hits in the order of the log (a
concurrent import rebuilds the same visits as a sequential one), while a few very busy visitors cannot hold
back the other lanes, as a fixed hash of the IP would.

The main thread cuts full batches and puts them on the lane's bounded queue, so a slow server slows the
reading down and memory stays flat. The first error of any lane stops them all; it is raised in the main thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from operator import itemgetter

from import_logs.backends import Batch, SendResult
from import_logs.errors import ImportLogsError, WorkerError
from import_logs.hits import Hits
from import_logs.pipeline.newdays import NewDays

#: Batches waiting per lane, beyond the one being sent.
QUEUE_DEPTH = 2
_POLL = 0.1


class _Pending:
    """The hits of one lane not yet cut into a batch."""

    __slots__ = ("hits", "since", "unconfirmed")

    def __init__(self) -> None:
        self.hits = Hits()
        #: When the oldest hit still here was queued (monotonic seconds).
        self.since = 0.0
        #: The same for each batch cut from here and not yet confirmed, oldest first (read by /metrics).
        self.unconfirmed: deque[float] = deque()

    def cut(self, size: int, names: Sequence[str]) -> Batch:
        batch = Batch(self.hits.cut(size), names)
        self.unconfirmed.append(self.since)
        self.since = time.monotonic()
        return batch


class Lanes:
    def __init__(
        self,
        count: int,
        payload_size: int,
        send: Callable[[Batch], SendResult | None],
        on_sent: Callable[[Batch, SendResult | None], None],
        stop: threading.Event,
        names: Sequence[str],
        *,
        pause: float = 0.0,
        on_failed: Callable[[Batch, ImportLogsError], None] | None = None,
        new_days: NewDays | None = None,
    ) -> None:
        self.count = max(1, count)
        #: --sleep-between-requests-ms: each lane waits this long before each request.
        self.pause = pause
        self.payload_size = max(1, payload_size)
        self._send = send
        self._on_sent = on_sent
        #: Told of the batch whose sending failed (part of it may have reached the server all the same).
        self._on_failed = on_failed
        self._stop = stop
        self._names = names
        #: With several lanes, the first request of each new (site, day) goes alone (see :mod:`newdays`).
        self._new_days = new_days if self.count > 1 else None
        self._queues: list[queue.Queue[Batch | None]] = [queue.Queue(QUEUE_DEPTH) for _ in range(self.count)]
        self._pending = [_Pending() for _ in range(self.count)]
        #: visitor → [lane, hits not yet confirmed]; and per lane, its hits not yet confirmed.
        self._owner: dict[str, list[int]] = {}
        self._load = [0] * self.count
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"import-logs-lane-{i}", daemon=True)
            for i in range(self.count)
        ]
        self.error: ImportLogsError | None = None
        self.failed = threading.Event()
        for thread in self._threads:
            thread.start()

    # --- main thread ----------------------------------------------------------------------------------------

    def add(self, hits: Hits) -> bool:
        """Queue hits (in log order); False once the import is failing or stopping (stop reading then)."""
        full: list[tuple[int, int, Batch]] = []  # (the hit that filled it, its lane, the batch)
        size = self.payload_size
        now = time.monotonic()
        with self._lock:
            owner, load, pending, lanes = self._owner, self._load, self._pending, range(self.count)
            known = owner.get
            # Each hit's lane first, then each lane's hits taken at once, column by column.
            picked: list[list[int]] = [[] for _ in lanes]
            for k, visitor in enumerate(hits.visitors):
                entry = known(visitor)
                if entry is None:
                    lane = min(lanes, key=load.__getitem__) if self.count > 1 else 0
                    owner[visitor] = [lane, 1]
                else:
                    lane = entry[0]
                    entry[1] += 1
                load[lane] += 1
                picked[lane].append(k)
            for lane, indexes in enumerate(picked):
                if not indexes:
                    continue
                p = pending[lane]
                before = len(p.hits)
                if not before:
                    p.since = now
                p.hits.extend(hits if len(indexes) == len(hits) else hits.select(indexes))
                if len(p.hits) >= size:
                    last = size - before - 1
                    while len(p.hits) >= size:
                        full.append((indexes[last], lane, p.cut(size, self._names)))
                        last += size
                    if p.hits:  # what is left was queued now
                        p.since = now
            full.sort(key=itemgetter(0))  # the lanes are fed in the order their batches filled up
        return all(self._put(lane, batch) for _, lane, batch in full)

    def _put(self, lane: int, item: Batch | None) -> bool:
        q = self._queues[lane]
        while not (self.failed.is_set() or self._stop.is_set()):
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def flush(self, older_than: float) -> bool:
        """Send the partial batches whose oldest hit waited ``older_than`` seconds or more (``--follow``: hits
        reach the server within seconds of being logged); False once the import is failing or stopping."""
        now = time.monotonic()
        with self._lock:
            due = [
                (lane, p.cut(len(p.hits), self._names))
                for lane, p in enumerate(self._pending)
                if p.hits and now - p.since >= older_than
            ]
        return all(self._put(lane, batch) for lane, batch in due)

    def close(self) -> None:
        """Send what is pending, wait for every lane, and raise the first error of any. Once the import is asked
        to stop it returns without waiting: the caller aborts, with a bound."""
        for lane, p in enumerate(self._pending):
            if p.hits:
                self._put(lane, p.cut(len(p.hits), self._names))
        self._finish()
        if self.error is not None:
            raise self.error

    def abort(self, wait: float = 1.5) -> None:
        """Stop now: nothing more is sent; the requests under way get ``wait`` seconds in all to end."""
        self._stop.set()
        self._finish(timeout=wait)

    def wait(self, timeout: float) -> None:
        """Give the lanes up to ``timeout`` seconds in all to end (after :meth:`abort`)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def idle(self) -> bool:
        """No lane is sending any more."""
        return not any(thread.is_alive() for thread in self._threads)

    def oldest(self) -> float | None:
        """When the oldest hit not yet confirmed was queued (monotonic seconds; None: every hit is confirmed).
        Read from another thread without the lock: a lane's batches are confirmed in the order they were cut."""
        times = []
        for p in self._pending:
            try:
                times.append(p.unconfirmed[0])
            except IndexError:
                if p.hits:
                    times.append(p.since)
        return min(times, default=None)

    def busy(self) -> int:
        """Lanes with a batch queued or being sent."""
        return sum(1 for p in self._pending if p.unconfirmed)

    def _finish(self, timeout: float | None = None) -> None:
        """Put the end mark on every queue (dropping what waits there once the import is failing) and join."""
        for lane, q in enumerate(self._queues):
            while True:
                if self.failed.is_set() or self._stop.is_set():
                    self._drain(lane)
                try:
                    q.put(None, timeout=_POLL)
                    break
                except queue.Full:
                    continue
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if deadline is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                continue
            while thread.is_alive() and not self._stop.is_set():  # a stop asked now is the caller's to bound
                thread.join(_POLL)

    def _drain(self, lane: int) -> None:
        q = self._queues[lane]
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                return

    # --- lane threads ---------------------------------------------------------------------------------------

    def _run(self, lane: int) -> None:
        q = self._queues[lane]
        while True:
            batch = q.get()
            if batch is None:
                return
            if self.failed.is_set() or self._stop.is_set():
                continue
            if self.pause and self._stop.wait(self.pause):
                continue
            gate = self._new_days
            claimed: frozenset[tuple[str, str]] | None = None
            accepted = False
            try:
                if gate is not None:  # it may ask the tracker a site's time zone: its errors are the batch's
                    claimed = gate.enter(batch.hits, self._stopping)
                    if claimed is None:
                        continue
                self._on_sent(batch, self._send(batch))
                accepted = True
            except ImportLogsError as exc:
                self._fail(exc, batch)
                continue
            except Exception as exc:  # a bug must stop the import, not hang it
                path, lineno = batch.where()
                error = WorkerError(f"lane {lane} failed on the batch starting at {path}:{lineno}: {exc!r}")
                self._fail(error, batch)
                continue
            finally:
                if gate is not None and claimed:
                    gate.leave(claimed, accepted)
            self._confirm(lane, batch)

    def _stopping(self) -> bool:
        return self.failed.is_set() or self._stop.is_set()

    def _confirm(self, lane: int, batch: Batch) -> None:
        """The server has these hits: their visitors may move to another lane once nothing else is pending."""
        with self._lock:
            owner = self._owner
            for visitor in batch.visitors:
                entry = owner[visitor]
                entry[1] -= 1
                if not entry[1]:
                    del owner[visitor]
            self._load[lane] -= len(batch.items)
            self._pending[lane].unconfirmed.popleft()

    def _fail(self, exc: ImportLogsError, batch: Batch | None = None) -> None:
        if batch is not None and self._on_failed is not None:
            self._on_failed(batch, exc)
        with self._lock:
            if self.error is None:
                self.error = exc
        self.failed.set()
