"""Lanes (the reference's "recorders"): threads that send batches concurrently, each visitor in one lane.

The main thread appends each block's hits to the lane their visitor hashes to (the workers did the hashing),
cuts full batches and puts them on the lane's bounded queue, so a slow server slows the reading down and memory
stays flat. Each lane sends its batches one after the other, so the hits of one visitor reach the server in the
order of the log. The first error of any lane stops them all; it is raised in the main thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from import_logs.backends import Batch
from import_logs.errors import ImportLogsError, WorkerError

#: Batches waiting per lane, beyond the one being sent.
QUEUE_DEPTH = 2
_POLL = 0.1


class Lanes:
    def __init__(
        self,
        count: int,
        payload_size: int,
        send: Callable[[Batch], None],
        on_sent: Callable[[Batch], None],
        stop: threading.Event,
        names: Sequence[str],
    ) -> None:
        self.count = max(1, count)
        self.payload_size = max(1, payload_size)
        self._send = send
        self._on_sent = on_sent
        self._stop = stop
        self._names = names
        self._queues: list[queue.Queue[Batch | None]] = [queue.Queue(QUEUE_DEPTH) for _ in range(self.count)]
        self._pending: list[tuple[list[tuple[int, int]], list[str]]] = [([], []) for _ in range(self.count)]
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"import-logs-lane-{i}", daemon=True)
            for i in range(self.count)
        ]
        self._error_lock = threading.Lock()
        self.error: ImportLogsError | None = None
        self.failed = threading.Event()
        for thread in self._threads:
            thread.start()

    # --- main thread ----------------------------------------------------------------------------------------

    def add(self, lane: int, refs: list[tuple[int, int]], items: list[str]) -> bool:
        """Queue hits for a lane; False once the import is failing or stopping (stop reading then)."""
        pending_refs, pending_items = self._pending[lane]
        pending_refs.extend(refs)
        pending_items.extend(items)
        size = self.payload_size
        while len(pending_items) >= size:
            batch = Batch(pending_items[:size], pending_refs[:size], self._names)
            del pending_items[:size], pending_refs[:size]
            if not self._put(lane, batch):
                return False
        return True

    def _put(self, lane: int, item: Batch | None) -> bool:
        q = self._queues[lane]
        while not (self.failed.is_set() or self._stop.is_set()):
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Send what is pending, wait for every lane, and raise the first error of any."""
        for lane, (refs, items) in enumerate(self._pending):
            if items:
                self._put(lane, Batch(list(items), list(refs), self._names))
                items.clear()
                refs.clear()
        self._finish()
        if self.error is not None:
            raise self.error

    def abort(self, wait: float = 1.5) -> None:
        """Stop now: nothing more is sent; a request under way gets ``wait`` seconds to end."""
        self._stop.set()
        self._finish(timeout=wait)

    def idle(self) -> bool:
        """No lane is sending any more."""
        return not any(thread.is_alive() for thread in self._threads)

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
        for thread in self._threads:
            thread.join(timeout)

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
            try:
                self._send(batch)
                self._on_sent(batch)
            except ImportLogsError as exc:
                self._fail(exc)
            except Exception as exc:  # a bug must stop the import, not hang it
                path, lineno = batch.where()
                self._fail(WorkerError(f"lane {lane} failed on the batch starting at {path}:{lineno}: {exc!r}"))

    def _fail(self, exc: ImportLogsError) -> None:
        with self._error_lock:
            if self.error is None:
                self.error = exc
        self.failed.set()
