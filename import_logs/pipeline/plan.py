"""Planning: each source, in turn, becomes jobs — blocks of whole lines with the context to parse them.

For one source the planner asks the checkpoint where to start (:func:`~import_logs.checkpoint.resume.plan`),
finds its format (named or detected; a W3C template from the ``#Fields:`` in effect), hands the source's state
entry to the ledger, and cuts the rest into blocks: byte ranges of a plain file, which the workers read
themselves, or the bytes of a compressed file, a stream or a W3C file, read here. After planning, the planner
writes nothing of a source's entry; the ledger does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from typing import BinaryIO

from import_logs.backends import EncodeSpec
from import_logs.checkpoint.ledger import Ledger
from import_logs.checkpoint.resume import Resume, plan
from import_logs.checkpoint.state import Entry, StateFile
from import_logs.checkpoint.versions import Hashing
from import_logs.config import Config
from import_logs.errors import ConfigError, CorruptInputError, FormatError
from import_logs.events import Change, EventSink, FileStarted, Notice, SourceEvent
from import_logs.parsing.formats import FormatDef
from import_logs.parsing.w3c import build as build_w3c
from import_logs.parsing.w3c import cut_at_fields
from import_logs.pipeline.choose import format_for
from import_logs.pipeline.groups import check_identity, missing_groups
from import_logs.pipeline.order import OPEN_AT_ONCE, logs_of, side_by_side
from import_logs.pipeline.plan_queue import QueuePlanning
from import_logs.pipeline.pool import Job
from import_logs.pipeline.runs import SourceRun
from import_logs.pipeline.worker import WorkContext
from import_logs.sources.compressed import ByteStream, CheckedStream
from import_logs.sources.files import (
    HEAD_LIMIT,
    Block,
    LimitedStream,
    byte_ranges,
    compression_of,
    skip_bytes,
    stream_blocks,
)
from import_logs.sources.follow import Follower
from import_logs.sources.growing import growing_blocks
from import_logs.sources.heads import CrLines, Head, file_head, inner, line_ends, sniff, stream_head
from import_logs.sources.kinds import Done, FileSource, ObjectSource, Source, file_paths
from import_logs.sources.marks import TICK, Control, Ended
from import_logs.sources.objects import ObjectPattern, ObjectStream
from import_logs.sources.restart import unfinished_copies
from import_logs.stats import Stats


class Planner(QueuePlanning):
    """The jobs of the sources of one run. What it learns of each source is kept for the merge: where it was
    resumed (:attr:`resume`), which sources cannot be read whole (:attr:`incomplete`), and the bytes counted
    as done without being read (:attr:`bytes_skipped`, :attr:`compressed_read`, for the progress)."""

    def __init__(
        self,
        config: Config,
        stats: Stats,
        on_event: EventSink,
        *,
        state: StateFile | None,
        ledger: Ledger | None,
        spec: EncodeSpec,
        stdin: BinaryIO | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.on_event = on_event
        self.state = state
        self.ledger = ledger
        self.spec = spec
        self.stdin = stdin
        #: Set when the import is asked to stop (``--follow`` waits on it between two looks at the files).
        self.stop = stop or threading.Event()
        #: What this run knows of each source being read (made here, handed to the merge, dropped at its end).
        self.runs: dict[int, SourceRun] = {}
        #: Bytes of plain files counted as done without being read (imported before, or nothing to import).
        self.bytes_skipped = 0
        #: Compressed bytes read of the sources that ended (the progress of the others is in their record).
        self.compressed_done = 0
        self._checked: set[str] = set()
        #: Bytes of the objects listed so far (the progress's total grows with them).
        self.bytes_listed = 0
        #: ``--follow``: the followed files (their lag is read by /metrics).
        self.follower: Follower[WorkContext] | None = None
        #: The fetched body of the object being planned.
        self._bodies: dict[int, bytes | ObjectStream] = {}
        #: What was read of the content of the object being planned (a new version compares its start with it).
        self._read_of: dict[int, Hashing] = {}
        #: The source whose next block the time merge waits for, if any (set by the importer).
        self.waiting_for: Callable[[], int | None] = lambda: None
        #: Told of each source as it starts to be read side by side with others (set by the importer).
        self.opening: Callable[[int], None] = lambda source: None
        #: The format the options name (set by :meth:`jobs`).
        self.forced: FormatDef | None = None
        #: The state entries this run reads (by id): a second file of the same content is not read twice.
        self._claimed: set[int] = set()

    def jobs(
        self, sources: list[Source], forced: FormatDef | None, objects: Sequence[ObjectPattern] = ()
    ) -> Generator[Job | Control, None, None]:
        """The jobs of every source, in order. A source whose compressed data breaks ends there (the lines
        before the fault go on); it waits, not done, to be whole.

        Objects of a store (``objects``) come after the files, each one a source of its own.
        With ``--follow`` the live files are followed (see :mod:`import_logs.sources.follow`) after the rest of
        their rotated copies that an earlier run was reading; ``sources`` grows as new files are followed."""
        self.forced = forced
        follower = None
        if self.config.follow.enabled:
            follower = self.follower = Follower(self.config, sources, self.on_event, self.stop, self)
        try:
            if follower is None:
                yield from self._together(list(sources))
            else:
                for source in list(sources):
                    if isinstance(source, FileSource) and source.live:
                        yield from self._rest_of_copies(source.path, sources)
                        yield from follower.start(source)
                        continue
                    yield from self._one(source)
            if self.queue is not None:  # the patterns say which of the objects the queue announces are read
                yield from self._queue_jobs(objects, sources)
            else:
                for pattern in objects:
                    yield from self._object_jobs(pattern, sources)
            if follower is not None:
                yield from follower.run()
        finally:
            if follower is not None:
                follower.close()

    def _together(self, sources: list[Source]) -> Iterator[Job | Control]:
        """The jobs of several logs read side by side (see :func:`~import_logs.pipeline.order.side_by_side`)."""
        return side_by_side(logs_of(sources), self._one, self.waiting_for, self.opening, OPEN_AT_ONCE)

    def _one(self, source: Source) -> Generator[Job | Control, None, None]:
        yield from self._read_once(source)
        yield Ended(source.index)

    def _rest_of_copies(self, live: str, sources: list[Source]) -> Generator[Job | Control, None, None]:
        """``--follow``: the rest of the rotated copies of a live log that an earlier run had not read, first. A
        copy compressed (so renamed) while it is looked at is looked for again, once, under its new name."""
        read: set[str] = set()
        for _ in range(2):
            taken = file_paths(sources)
            todo = [c for c in unfinished_copies(live, self.state) if c not in read and c not in taken]
            for copy in todo:
                read.add(copy)
                try:
                    rest = FileSource(len(sources), copy, copy, compression_of(copy), os.path.getsize(copy))
                except FileNotFoundError:
                    continue
                sources.append(rest)
                self.on_event(
                    SourceEvent(
                        f"{copy}: the rest of {live} before its rotation, read first",
                        source=copy,
                        change=Change.RESUMED,
                    )
                )
                yield from self._read_once(rest)
                yield Ended(rest.index)
            if not todo:
                return

    def _read_once(self, source: Source) -> Generator[Job | Control, None, None]:
        try:
            yield from self._source_jobs(source)
        except CorruptInputError as exc:
            if source.stored:
                exc = CorruptInputError(exc.path, exc.reason, exc.offset, stored=True)
            self._unreadable(source, exc.reason, str(exc))
        except FileNotFoundError:  # a rotated copy compressed (its plain file removed) as it was opened
            why = "removed while it was read (compressed by logrotate?)"
            self._unreadable(source, why, f"{source.name}: {why}; the next run reads on from its copy")
        except FormatError as exc:
            if not source.stored:
                raise  # a local file of no known format stops the run: the user named it
            # One object of no known format among a bucket's (or a queue's) must not stop every run at it.
            self._unreadable(source, "of no known log format", str(exc))

    def _unreadable(self, source: Source, reason: str, message: str) -> None:
        self.runs.setdefault(source.index, SourceRun(source)).incomplete = True
        self.stats.unreadable[source.name] = reason
        self.stats.formats.setdefault(source.name, "")
        self.on_event(SourceEvent(message, source=source.name, change=Change.FAILED))

    # --- what the follower asks (see :class:`~import_logs.sources.follow.TailPlanning`) -----------------------

    def begin_tail(
        self, source: Source, head: bytes, lines: list[str], stat: os.stat_result
    ) -> tuple[WorkContext, int] | None:
        """A followed file has its first complete line: plan it as any file (state entry, format, ledger)."""
        resume = self._plan(source, head=head, stat=stat)
        if resume.nothing and resume.entry is None and self.state is not None:
            self._nothing(source, resume.nothing)
            return None
        self._track(source, resume)
        return self._context(source, lines, resume), resume.offset

    def _track(self, source: Source, resume: Resume) -> None:
        self.runs[source.index] = SourceRun(source, resume, line_base=resume.line)

    def ended(self, source: int) -> SourceRun | None:
        """The source ended (every block of it merged): its record, no longer kept."""
        run = self.runs.pop(source, None)
        if run is not None:
            self.compressed_done += run.compressed_read
        return run

    def compressed_read(self) -> int:
        """Compressed bytes read so far, of every source (the progress of compressed files and objects)."""
        return self.compressed_done + sum(run.compressed_read for run in self.runs.values())

    def opened(self, source: int) -> None:
        self.opening(source)

    def whole(self, source: Source) -> Iterator[Job | Control]:
        self.opening(source.index)
        return self._one(source)

    def grown(self, source: int, head: bytes) -> None:
        if self.ledger is not None and self.ledger.tracks(source):
            self.ledger.refingerprint(source, head)

    def blocks(self, ctx: WorkContext, source: Source, offset: int, data: bytes) -> Iterator[tuple[WorkContext, Block]]:
        """Bytes read of a source as jobs: one block; for the W3C family, a block for each run of lines between two
        ``#Fields:`` lines, each read with the format its fields give."""
        if not ctx.fmt.comments:
            yield ctx, Block(source.index, offset, offset + len(data), data=data)
            return
        for at, piece, fields in cut_at_fields(offset, data):
            if fields is not None:
                ctx = replace(ctx, fmt=build_w3c(ctx.fmt, fields, self.config.formats.w3c, where=source.name))
            yield ctx, Block(source.index, at, at + len(piece), data=piece)

    def _plan(self, source: Source, head: bytes | None = None, stat: os.stat_result | None = None) -> Resume:
        """Where a source starts, by its kind: an object by its identity, a file by its content and path; a stream
        has no place in the state."""
        match source:
            case ObjectSource():
                return self._plan_object(source)
            case FileSource() if self.state is not None:
                force = self.config.state.force_reimport
                resume = plan(self.state, source, force=force, claimed=self._claimed, head=head, stat=stat)
            case _:
                if self.state is not None and not source.in_state:
                    self.stats.streams.append(source.name)
                return Resume()
        for note in resume.notes:
            self.on_event(SourceEvent(note, source=source.name, change=Change.RESUMED))
        self.stats.already_imported += resume.line
        return resume

    def _done(self, entry: Entry, done: bool) -> None:
        assert self.state is not None
        self.state.update(entry, done=done)

    def _nothing(self, source: Source, why: str) -> None:
        self.on_event(Notice(f"{source.name}: {why}, nothing to import"))
        self.stats.formats[source.name] = ""

    def _source_jobs(self, source: Source) -> Generator[Job | Control, None, None]:
        """The blocks of one source, from where the state says it stands."""
        c = self.config
        resume = self._plan(source)
        if resume.nothing:
            self._nothing(source, resume.nothing)
            self.bytes_skipped += source.size or 0
            return
        self._track(source, resume)
        stream = None
        ahead: list[tuple[int, bytes]] = []
        blocks: Iterator[tuple[int, bytes]] | None = None
        head = file_head(source, c.formats.encoding) if source.reopens else None
        if source.stored and resume.offset:  # an object resumed: its format and W3C fields from its start
            head = self._body_head(source)
        try:
            if not source.ranges or (head is not None and head.cr):
                stream = self._open(source, head)
                skip_bytes(stream, resume.offset)
                if c.follow.enabled and not source.in_state and _has_fd(stream):
                    self.on_event(
                        Notice(
                            "--follow: standard input is read until it ends or the import is stopped; it has no "
                            "place in the state, so a restart reads only what comes after it"
                        )
                    )
                    blocks = growing_blocks(stream, c.block_size, c.follow.poll, self.stop, start=resume.offset)  # type: ignore[arg-type]
                elif source.ranges:  # a plain file with CR line ends
                    end = resume.end if resume.end is not None else source.size
                    limited = LimitedStream(stream, (end or 0) - resume.offset)
                    blocks = stream_blocks(limited, c.block_size, start=resume.offset)
                else:
                    blocks = stream_blocks(stream, c.block_size, start=resume.offset)
                first = next(blocks, None)
                while first is not None and not first[1]:  # following standard input: nothing yet
                    yield TICK
                    first = next(blocks, None)
                if first is None and resume.entry is not None and resume.offset:
                    self._done(resume.entry, source.done is Done.READ_WHOLE)
                    self._nothing(source, "no new lines")
                    return
                ahead = [first] if first else []
            if head is None:
                head = stream_head(ahead, blocks, c.formats.encoding)
            lines = head.lines
            written = [line for line in lines if line.strip()]
            if head.overlong and self.forced is None and all(line.startswith("#") for line in written):
                raise FormatError(
                    f"{source.name}: its first {head.overlong:,} line(s) are longer than {HEAD_LIMIT >> 10} KiB, and "
                    "no shorter line follows them to detect the format from. Name the format with "
                    "--log-format-name or give --log-format-regex.",
                    path=source.name,
                )
            if not head.overlong and (not written or all(line.startswith("#") for line in written)):
                self._nothing(source, "only W3C headers" if written else "empty")
                if source.stored and resume.entry is not None:
                    self._done(resume.entry, True)  # an object does not grow
                return
            ctx = self._context(source, lines, resume)
            fmt = ctx.fmt
            if source.ranges:
                self.bytes_skipped += resume.offset  # the progress starts where the file is resumed
            if blocks is None and fmt.comments:  # W3C: read here, to follow every new #Fields: line
                stream = source.open()
                skip_bytes(stream, resume.offset)
                end = resume.end if resume.end is not None else source.size
                blocks = stream_blocks(
                    LimitedStream(stream, (end or 0) - resume.offset), c.block_size, start=resume.offset
                )
            if blocks is None:
                assert isinstance(source, FileSource) and source.size is not None
                end = resume.end if resume.end is not None else source.size
                for start, stop in byte_ranges(source.path, end, c.block_size, start=resume.offset):
                    yield ctx, Block(source.index, start, stop, path=source.path)
                return
            checked = inner(stream) if stream is not None else None
            for offset, data in _chain(ahead, blocks):
                if not data:
                    yield TICK
                    continue
                if isinstance(checked, CheckedStream):
                    self.runs[source.index].compressed_read = checked.consumed()
                for job in self.blocks(ctx, source, offset, data):
                    ctx = job[0]  # a #Fields: line changes the format of the lines after it
                    yield job
        finally:
            if stream is not None and not source.stdin:
                stream.close()

    def _open(self, source: Source, head: Head | None) -> ByteStream:
        """A source read here: decompressed, with its lone CRs made line ends. A file's head says what it is; a
        stream's (an object's, standard input's) first bytes do, except when standard input is followed."""
        if source.reopens:
            stream = source.open(self.stdin)
            cr = head is not None and head.cr
            stream = CrLines(stream) if cr else stream
        else:
            if source.stored:
                stream, compression = self._open_body(source)
            else:
                stream = source.open(self.stdin)
                if self.config.follow.enabled and _has_fd(stream):
                    return stream  # read as it comes, through its descriptor
                stream, compression = sniff(stream, source.name)
            if compression:
                self.runs[source.index].compressed = True
            stream, cr = line_ends(stream)
        if cr:
            self.on_event(
                Notice(f"{source.name}: its lines end with a carriage return alone (CR, no LF); read as line ends")
            )
        return stream

    def _context(self, source: Source, lines: list[str], resume: Resume) -> WorkContext:
        """The format of a source and what the workers need to read it; its entry handed to the ledger."""
        c = self.config
        fmt = format_for(c, source, lines, self.forced, resume.offset)
        self.stats.formats[source.name] = fmt.name
        check_identity(fmt, c, where=source.name)
        self._check_groups(fmt)
        by_host = self.spec.per_hit_site and self.spec.replay_suffixes is None and not c.tracking.log_hostname
        if by_host and "host" not in fmt.groups:
            raise ConfigError(
                f"{source.name}: the {fmt.name} format has no host, so the site of its hits cannot "
                "be found by host name. Give --idsite, or --log-hostname=HOST."
            )
        if self.ledger is not None and resume.entry is not None:
            self.ledger.track(source.index, resume.entry)
        self.on_event(FileStarted(source.name, fmt.name, source.size))
        return WorkContext(
            fmt=fmt,
            filters=c.filters,
            encode=self.spec,
            encoding=c.formats.encoding,
            timezone=c.formats.timezone,
            keep_rejected=c.verbose > 0,
            encode_hits=not self.stats.dry_run,
            privacy=c.privacy,
        )

    def _check_groups(self, fmt: FormatDef) -> None:
        """Say once per format which groups named by the options it does not have (see :mod:`groups`)."""
        t = self.config.tracking
        named = (t.page_cvars, t.visit_cvars, t.ignore_groups, t.page_dimensions, t.visit_dimensions)
        if fmt.name in self._checked or not any(named):
            return
        self._checked.add(fmt.name)
        for text in missing_groups(fmt, t):
            self.on_event(Notice(text))


def _has_fd(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _chain(first: list[tuple[int, bytes]], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from first
    yield from rest
