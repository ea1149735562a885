"""Planning the objects of a store: listed page by page, those read before passed over without a fetch, each
fetched object a source of its own; a new version of a key read in part before reads on after what was read."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator

from import_logs.checkpoint.fold import Walk
from import_logs.checkpoint.resume import Resume
from import_logs.checkpoint.state import StateFile
from import_logs.checkpoint.versions import Hashing, carry_over
from import_logs.config import Config
from import_logs.errors import InputError
from import_logs.events import EventSink, Notice
from import_logs.pipeline.order import side_by_side
from import_logs.pipeline.pool import Job
from import_logs.pipeline.runs import SourceRun
from import_logs.sources.compressed import ByteStream
from import_logs.sources.heads import Head, head_of, open_body
from import_logs.sources.kinds import ObjectSource, Source
from import_logs.sources.marks import Control, Ended
from import_logs.sources.objects import (
    Bucket,
    ObjectPattern,
    ObjectRef,
    ObjectStream,
    fetch_ahead,
    key_matcher,
    key_time,
    split_url,
)
from import_logs.stats import Stats

#: Objects read side by side (each fetched whole up to 8 MB, besides the eight fetched ahead)...
OBJECTS_AT_ONCE = 4
#: ... and at most, when their names say they are of the same period (a CDN's edge servers' files of one hour).
OBJECTS_TOGETHER = 16


def period_of(source: Source) -> float | None:
    """The time an object's key gives (see :func:`~import_logs.sources.objects.key_time`)."""
    return key_time(source.ref.key) if isinstance(source, ObjectSource) else None


class ObjectPlanning:
    """The part of the planner that reads objects (see :class:`~import_logs.pipeline.plan.Planner`)."""

    config: Config
    stats: Stats
    on_event: EventSink
    state: StateFile | None
    stop: threading.Event
    runs: dict[int, SourceRun]
    bytes_listed: int
    bytes_skipped: int
    waiting_for: Callable[[], int | None]
    opening: Callable[[int], None]
    _bodies: dict[int, bytes | ObjectStream]
    _read_of: dict[int, Hashing]

    def _read_once(self, source: Source) -> Generator[Job | Control, None, None]:
        raise NotImplementedError

    def _unreadable(self, source: Source, reason: str, message: str) -> None:
        raise NotImplementedError

    def _object_jobs(self, pattern: ObjectPattern, sources: list[Source]) -> Generator[Job | Control, None, None]:
        """The objects a pattern names, listed page by page; those read before are passed over without a fetch."""
        scheme, name, key = split_url(pattern.url)
        bucket = Bucket(scheme, name, endpoint=self.config.s3_endpoint if scheme == "s3" else None)
        listed = before = 0
        walk = None
        if self.state is not None:
            options = self.config.state
            walk = Walk(
                self.state,
                pattern.url,
                lambda p: key_matcher(p)[1],
                settle=options.settle,
                force=options.force_reimport,
            )

        def todo() -> Iterator[ObjectRef]:
            nonlocal listed, before
            after = walk.start_after if walk is not None else None
            named = tuple(walk.pending) if walk is not None else ()
            for ref in bucket.list(key, after=after, named=named):
                listed += 1
                self.bytes_listed += ref.size
                state = self.state
                recent = state is not None and state.recently_done(ref.url, ref.etag)  # imported through a queue
                if walk is not None and walk.done(ref.key, ref.identity, ref.modified, recent=recent):
                    before += 1
                    self.bytes_skipped += ref.size
                    continue
                yield ref
            if walk is not None:
                walk.finish()

        fetched: dict[int, bytes | ObjectStream | InputError] = {}

        def objects() -> Iterator[deque[Source]]:
            for ref, body in fetch_ahead(bucket, todo()):
                source = self._object_source(ref, sources)
                fetched[source.index] = body
                yield deque([source])

        def jobs_of(source: Source) -> Iterator[Job | Control]:
            return self._object_body_jobs(source, fetched.pop(source.index))

        # Objects of the same hours (a CDN's edge servers each write their own) are read side by side.
        yield from self._side_by_side(objects(), jobs_of)
        after = walk.start_after if walk is not None else None
        if not listed and not after:
            raise InputError(
                pattern.url, "no object matches this pattern", "Check the bucket, the prefix and the pattern."
            )
        if after:
            self.on_event(
                Notice(
                    f"{pattern.url}: {listed:,} objects listed after {after} (every object before it was imported), "
                    f"{before:,} of them imported before"
                )
            )
        elif before:
            self.on_event(Notice(f"{pattern.url}: {before:,} of its {listed:,} objects were imported before"))

    def _side_by_side(
        self, chains: Iterator[deque[Source]], jobs_of: Callable[[Source], Iterator[Job | Control]]
    ) -> Iterator[Job | Control]:
        """Objects (listed, or announced together) read side by side, their hits merged by time: a few at once,
        more when their keys say they are of the same period."""
        return side_by_side(
            chains,
            jobs_of,
            self.waiting_for,
            self.opening,
            OBJECTS_AT_ONCE,
            period=period_of,
            most=OBJECTS_TOGETHER,
        )

    def _object_source(self, ref: ObjectRef, sources: list[Source]) -> ObjectSource:
        """An object fetched (listed, or announced on a queue): a source of its own, added to the run's."""
        source = ObjectSource(len(sources), ref.url, ref, ref.size)
        sources.append(source)
        return source

    def _object_body_jobs(
        self, source: Source, body: bytes | ObjectStream | InputError, then: Callable[[Source], None] = lambda s: None
    ) -> Generator[Job | Control, None, None]:
        """The jobs of an object whose body was fetched (or whose fetch failed); ``then(source)`` once every job of
        it was made, before its end is marked."""
        if isinstance(body, InputError):
            self._unreadable(source, body.reason, str(body))
            then(source)
            yield Ended(source.index)
            return
        self._bodies[source.index] = body
        try:
            yield from self._read_once(source)
            then(source)
            yield Ended(source.index)
        finally:
            self._bodies.pop(source.index, None)
            read = self._read_of.pop(source.index, None)
            run = self.runs.get(source.index)
            if read is not None and run is not None and run.resume.entry is not None and self.state is not None:
                read.keep(self.state, run.resume.entry)

    def _open_body(self, source: Source) -> tuple[ByteStream, str | None]:
        """An object's fetched body, decompressed by its content (and its compression), its content hashed as it is
        read (a new version compares its start with it)."""
        stream, compression = open_body(source.name, self._bodies[source.index])
        hashing = self._read_of[source.index] = Hashing(stream)
        return hashing, compression

    def _body_head(self, source: Source) -> Head:
        """The first lines of an object's body again, from its start (an object resumed inside)."""
        body = self._bodies[source.index]
        stream = open_body(source.name, body if isinstance(body, bytes) else body.again())[0]
        return head_of(stream, self.config.formats.encoding)

    def _plan_object(self, source: ObjectSource) -> Resume:
        """An object resumes where a run that stopped in it left it (its version and size unchanged)."""
        if self.state is None:
            return Resume()
        ref = source.ref
        entry = self.state.object_entry(ref.identity)
        if entry is None:  # a new version of a key read in part before reads on after what was read, if it can
            entry = self.state.add_object(ref.identity, ref.url)
            body = self._bodies[source.index]
            note = None if self.config.state.force_reimport else carry_over(self.state, entry, ref, body)
            if note:
                self.on_event(Notice(note))
        self.state.update(entry, size=ref.size)
        if self.config.state.force_reimport:
            self.state.restart(entry)
        self.stats.already_imported += entry.line
        return Resume(entry=entry, offset=entry.offset, line=entry.line, acked=frozenset(entry.acked))
