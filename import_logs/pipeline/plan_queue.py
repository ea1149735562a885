"""Planning the objects a queue announces (``--queue``): each announced object an ordinary object source (resumed
inside, never read twice, its hits merged by time with those of the objects announced with it).

Messages are taken a receive at a time, and a few receives at once while more come without waiting: the objects
they announce are read side by side, like the objects of one listing, so their hits go out in one time order;
the next messages are taken once they are read. Without ``--follow`` the run ends when a receive finds the queue
empty; with it, it waits for more (long polling), and partial batches go out in between.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator, Sequence

from import_logs.errors import InputError
from import_logs.events import Notice
from import_logs.pipeline.plan_objects import OBJECTS_TOGETHER, ObjectPlanning
from import_logs.pipeline.pool import Job
from import_logs.pipeline.queue_run import OBJECT_FAULTS, QueueRun
from import_logs.sources.kinds import ObjectSource, Source
from import_logs.sources.marks import TICK, Control
from import_logs.sources.objects import ObjectPattern, ObjectRef, ObjectStream, fetch_ahead
from import_logs.sources.queue import QueueUnreachable

#: Objects taken from the queue before they are read (more when one receive brings more).
BATCH = OBJECTS_TOGETHER
#: Longest wait before a queue that did not answer is asked again (--follow).
RETRY_AT_MOST = 60.0


class QueuePlanning(ObjectPlanning):
    """The part of the planner that takes objects from a queue (see :class:`~import_logs.pipeline.plan.Planner`)."""

    queue: QueueRun | None = None

    def _queue_jobs(
        self, patterns: Sequence[ObjectPattern], sources: list[Source]
    ) -> Generator[Job | Control, None, None]:
        queue = self.queue
        assert queue is not None
        queue.start()
        pause = 1.0
        while not self.stop.is_set():
            try:
                got, refs = queue.take(queue.wait())
                while got and len(refs) < BATCH and not self.stop.is_set():
                    more, extra = queue.take(0)
                    if not more:
                        break
                    got += more
                    refs += extra
            except QueueUnreachable as exc:
                if not queue.follow:
                    raise
                self.on_event(Notice(f"{exc} (asked again in {pause:g} s)", warning=True))
                self.stop.wait(pause)
                pause = min(RETRY_AT_MOST, pause * 2)
                yield TICK
                continue
            pause = 1.0
            if not got and not queue.follow:
                return  # the queue is empty
            if refs:
                yield from self._queue_batch(queue, refs, sources)
            yield TICK  # the merge catches up; partial batches that waited go out

    def _queue_batch(self, queue: QueueRun, refs: list[ObjectRef], sources: list[Source]) -> Iterator[Job | Control]:
        fetched: dict[int, bytes | ObjectStream | InputError] = {}

        def objects() -> Iterator[deque[Source]]:
            for ref, body in fetch_ahead(queue.buckets, iter(refs)):
                source = self._object_source(ref, sources)
                fetched[source.index] = body
                yield deque([source])

        def jobs_of(source: Source) -> Iterator[Job | Control]:
            body = fetched.pop(source.index)
            store_fault = isinstance(body, InputError) and not body.reason.startswith(OBJECT_FAULTS)

            def then(s: Source) -> None:
                assert isinstance(s, ObjectSource)
                queue.read(s.ref, self.runs.get(s.index), store_fault=store_fault)

            return self._object_body_jobs(source, body, then)

        return self._side_by_side(objects(), jobs_of)
