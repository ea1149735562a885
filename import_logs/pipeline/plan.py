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
from collections.abc import Generator, Iterator, Sequence
from dataclasses import replace
from typing import BinaryIO

from import_logs.backends import EncodeSpec
from import_logs.checkpoint.ledger import Ledger
from import_logs.checkpoint.resume import Resume, plan
from import_logs.checkpoint.state import FINGERPRINT_BYTES, StateFile, now_text
from import_logs.config import Config
from import_logs.errors import ConfigError, CorruptInputError, FormatError, InputError
from import_logs.events import EventSink, FileStarted, Notice
from import_logs.objects import Bucket, ObjectPattern, ObjectRef, ObjectStream, fetch_ahead, split_url
from import_logs.parsing.detect import detect, first_lines
from import_logs.parsing.formats import FormatDef, get_format, load_format_file, user_regex_format
from import_logs.parsing.hit import reads_any
from import_logs.parsing.w3c import build as build_w3c
from import_logs.parsing.w3c import cut_at_fields, fields_before, header_fields
from import_logs.pipeline.follow import Follower, growing_blocks, is_live, unfinished_copies
from import_logs.pipeline.groups import check_identity, missing_groups
from import_logs.pipeline.pool import TICK, Control, Ended, Job
from import_logs.pipeline.worker import WorkContext
from import_logs.sources import (
    Block,
    ByteStream,
    CheckedStream,
    LimitedStream,
    Source,
    byte_ranges,
    compression_of,
    head_lines,
    lines_of,
    open_body,
    open_stream,
    skip_bytes,
    stream_blocks,
)
from import_logs.stats import Stats


def forced_format(config: Config) -> FormatDef | None:
    """The format the options name, if any: a regex, a definition file, or a known name."""
    f = config.formats
    if f.regex:
        return user_regex_format(f.regex, f.date_format)
    if f.name and f.name.endswith(".json"):
        return load_format_file(f.name)
    if f.name:
        return get_format(f.name)
    return None


class Planner:
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
        self.resume: dict[int, Resume] = {}
        #: Sources that could not be read to their end: never marked done.
        self.incomplete: set[int] = set()
        #: Bytes of plain files counted as done without being read (imported before, or nothing to import).
        self.bytes_skipped = 0
        #: Compressed bytes read so far of each compressed source (its progress).
        self.compressed_read: dict[int, int] = {}
        self._checked: set[str] = set()
        #: Bytes of the objects listed so far (the progress's total grows with them).
        self.bytes_listed = 0
        #: ``--follow``: the followed files (their lag is read by /metrics).
        self.follower: Follower | None = None
        #: Objects found compressed (by their content) once opened.
        self.sources_compressed: set[int] = set()
        #: The fetched body of the object being planned.
        self._bodies: dict[int, bytes | ObjectStream] = {}

    def jobs(
        self, sources: list[Source], forced: FormatDef | None, objects: Sequence[ObjectPattern] = ()
    ) -> Generator[Job | Control, None, None]:
        """The jobs of every source, in order. A source whose compressed data breaks ends there (the lines
        before the fault go on); it waits, not done, to be whole.

        Objects of a store (``objects``) come after the files, each one a source of its own.
        With ``--follow`` the live files are followed (see :mod:`import_logs.pipeline.follow`) after the rest of
        their rotated copies that an earlier run was reading; ``sources`` grows as new files are followed."""
        claimed: set[int] = set()
        follower = None
        if self.config.follow.enabled:
            follower = self.follower = Follower(
                self.config,
                sources,
                self.on_event,
                self.stop,
                lambda source, head, stat: self._begin_tail(source, head, stat, forced, claimed),
                self._grow,
            )
        try:
            for source in list(sources):
                if follower is not None and source.path and not source.compression and is_live(source.path):
                    for copy in unfinished_copies(source.path, self.state):
                        if all(copy != s.path for s in sources):
                            rest = Source(len(sources), copy, copy, compression_of(copy), os.path.getsize(copy))
                            sources.append(rest)
                            self.on_event(Notice(f"{copy}: the rest of {source.path} before its rotation, read first"))
                            yield from self._read_once(rest, forced, claimed)
                            yield Ended(rest.index)
                    yield from follower.start(source)
                    continue
                yield from self._read_once(source, forced, claimed)
                if follower is not None:  # sources are not finished by the merge when some are followed
                    yield Ended(source.index)
            for pattern in objects:
                yield from self._object_jobs(pattern, sources, forced, claimed)
            if follower is not None:
                yield from follower.run()
        finally:
            if follower is not None:
                follower.close()

    def _object_jobs(
        self, pattern: ObjectPattern, sources: list[Source], forced: FormatDef | None, claimed: set[int]
    ) -> Generator[Job | Control, None, None]:
        """The objects a pattern names, listed page by page; those read before are passed over without a fetch."""
        scheme, name, key = split_url(pattern.url)
        bucket = Bucket(scheme, name, endpoint=self.config.s3_endpoint if scheme == "s3" else None)
        listed = before = 0
        force = self.config.state.force_reimport

        def todo() -> Iterator[ObjectRef]:
            nonlocal listed, before
            for ref in bucket.list(key):
                listed += 1
                self.bytes_listed += ref.size
                entry = self.state.object_entry(ref.identity) if self.state is not None else None
                if entry is not None and entry.done and not force:
                    entry.seen = now_text()
                    before += 1
                    self.bytes_skipped += ref.size
                    continue
                yield ref

        for ref, body in fetch_ahead(bucket, todo()):
            source = Source(len(sources), ref.url, None, None, ref.size, object=ref)
            sources.append(source)
            if isinstance(body, InputError):
                self.incomplete.add(source.index)
                self.stats.unreadable[source.name] = body.reason
                self.stats.formats.setdefault(source.name, "")
                self.on_event(Notice(str(body)))
                continue
            self._bodies[source.index] = body
            try:
                yield from self._read_once(source, forced, claimed)
            finally:
                self._bodies.pop(source.index, None)
        if not listed:
            raise InputError(
                pattern.url, "no object matches this pattern", "Check the bucket, the prefix and the pattern."
            )
        if before:
            self.on_event(Notice(f"{pattern.url}: {before:,} of its {listed:,} objects were imported before"))

    def _read_once(
        self, source: Source, forced: FormatDef | None, claimed: set[int]
    ) -> Generator[Job | Control, None, None]:
        try:
            yield from self._source_jobs(source, forced, claimed)
        except CorruptInputError as exc:
            self.incomplete.add(source.index)
            self.stats.unreadable[source.name] = exc.reason
            self.stats.formats.setdefault(source.name, "")
            self.on_event(Notice(str(exc)))

    def _begin_tail(
        self, source: Source, head: bytes, stat: os.stat_result, forced: FormatDef | None, claimed: set[int]
    ) -> tuple[WorkContext, int] | None:
        """A followed file has its first complete line: plan it as any file (state entry, format, ledger)."""
        resume = self._plan(source, claimed, head=head[:FINGERPRINT_BYTES], stat=stat)
        if resume.nothing and resume.entry is None and self.state is not None:
            self._nothing(source, resume.nothing)
            return None
        self.resume[source.index] = resume
        lines = lines_of(head, self.config.formats.encoding)
        return self._context(source, lines, forced, resume), resume.offset

    def _grow(self, source: int, head: bytes) -> None:
        if self.ledger is not None and self.ledger.tracks(source):
            self.ledger.refingerprint(source, head)

    def _plan(
        self, source: Source, claimed: set[int], head: bytes | None = None, stat: os.stat_result | None = None
    ) -> Resume:
        if source.object is not None:
            return self._plan_object(source, source.object)
        if self.state is not None and source.path is None:
            self.stats.streams.append(source.name)
        if self.state is None or source.path is None:
            return Resume()
        resume = plan(self.state, source, force=self.config.state.force_reimport, claimed=claimed, head=head, stat=stat)
        for note in resume.notes:
            self.on_event(Notice(note))
        self.stats.already_imported += resume.line
        return resume

    def _plan_object(self, source: Source, ref: ObjectRef) -> Resume:
        """An object resumes where a run that stopped in it left it (its version and size unchanged)."""
        if self.state is None:
            return Resume()
        entry = self.state.object_entry(ref.identity) or self.state.add_object(ref.identity, ref.url)
        entry.size = ref.size
        if self.config.state.force_reimport:
            entry.offset, entry.line, entry.acked, entry.done = 0, 0, [], False
        self.stats.already_imported += entry.line
        return Resume(entry=entry, offset=entry.offset, line=entry.line, acked=frozenset(entry.acked))

    def _nothing(self, source: Source, why: str) -> None:
        self.on_event(Notice(f"{source.name}: {why}, nothing to import"))
        self.stats.formats[source.name] = ""

    def _source_jobs(
        self, source: Source, forced: FormatDef | None, claimed: set[int]
    ) -> Generator[Job | Control, None, None]:
        """The blocks of one source, from where the state says it stands."""
        c = self.config
        resume = self._plan(source, claimed)
        if resume.nothing:
            self._nothing(source, resume.nothing)
            self.bytes_skipped += source.size or 0
            return
        self.resume[source.index] = resume
        stream = None
        first: tuple[int, bytes] | None = None
        blocks: Iterator[tuple[int, bytes]] | None = None
        try:
            if source.path is None or source.compression:
                stream = self._open(source)
                skip_bytes(stream, resume.offset)
                if c.follow.enabled and source.path is None and _has_fd(stream):
                    self.on_event(
                        Notice(
                            "--follow: standard input is read until it ends or the import is stopped; it has no "
                            "place in the state, so a restart reads only what comes after it"
                        )
                    )
                    blocks = growing_blocks(stream, c.block_size, c.follow.poll, self.stop, start=resume.offset)  # type: ignore[arg-type]
                else:
                    blocks = stream_blocks(stream, c.block_size, start=resume.offset)
                first = next(blocks, None)
                while first is not None and not first[1]:  # following standard input: nothing yet
                    yield TICK
                    first = next(blocks, None)
                if first is None and resume.entry is not None and resume.offset:
                    resume.entry.done = bool(source.compression) or source.object is not None
                    self._nothing(source, "no new lines")
                    return
            lines = head_lines(source, first[1] if first else None, encoding=c.formats.encoding)
            written = [line for line in lines if line.strip()]
            if not written or all(line.startswith("#") for line in written):
                self._nothing(source, "only W3C headers" if written else "empty")
                if source.object is not None and resume.entry is not None:
                    resume.entry.done = True  # an object does not grow
                return
            ctx = self._context(source, lines, forced, resume)
            fmt = ctx.fmt
            if source.path is not None and not source.compression:
                self.bytes_skipped += resume.offset  # the progress starts where the file is resumed
            if blocks is None and fmt.comments:  # W3C: read here, to follow every new #Fields: line
                assert source.path is not None
                stream = open_stream(source, None)
                skip_bytes(stream, resume.offset)
                end = resume.end if resume.end is not None else source.size
                blocks = stream_blocks(
                    LimitedStream(stream, (end or 0) - resume.offset), c.block_size, start=resume.offset
                )
            if blocks is None:
                assert source.path is not None and source.size is not None
                end = resume.end if resume.end is not None else source.size
                for start, stop in byte_ranges(source.path, end, c.block_size, start=resume.offset):
                    yield ctx, Block(source.index, start, stop, path=source.path)
                return
            for offset, data in _chain([first] if first else [], blocks):
                if not data:
                    yield TICK
                    continue
                if isinstance(stream, CheckedStream):
                    self.compressed_read[source.index] = stream.consumed()
                pieces = cut_at_fields(offset, data) if fmt.comments else iter([(offset, data, None)])
                for at, piece, fields in pieces:
                    if fields is not None:
                        ctx = replace(ctx, fmt=build_w3c(fmt, fields, c.formats.w3c, where=source.name))
                    yield ctx, Block(source.index, at, at + len(piece), data=piece)
        finally:
            if stream is not None and (source.path is not None or source.stream is not None or source.object):
                stream.close()

    def _open(self, source: Source) -> ByteStream:
        if source.object is None:
            return open_stream(source, self.stdin)
        stream, compression = open_body(source.name, self._bodies[source.index])
        if compression:
            self.sources_compressed.add(source.index)
        return stream

    def _context(self, source: Source, lines: list[str], forced: FormatDef | None, resume: Resume) -> WorkContext:
        """The format of a source and what the workers need to read it; its entry handed to the ledger."""
        c = self.config
        fmt = self._format_for(source, lines, forced, resume)
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

    def _format_for(self, source: Source, lines: list[str], forced: FormatDef | None, resume: Resume) -> FormatDef:
        """The format of a source: named or detected; a W3C template built from the fields in effect."""
        w3c = self.config.formats.w3c
        fmt = forced or detect(lines, path=source.name, w3c_options=w3c)
        if fmt.kind != "w3c" and not (fmt.comments and resume.offset):
            return self._check_forced(fmt, source, lines) if forced else fmt
        fields = header_fields(lines, w3c)
        if resume.offset and source.path is not None:  # resuming: the last #Fields: before the checkpoint
            fields = fields_before(source, resume.offset) or fields
        if fields is None:
            raise FormatError(
                f"{source.name}: no #Fields: line in its first lines, so the W3C fields are unknown. "
                'Give them with --w3c-fields="#Fields: date time c-ip ...".',
                path=source.name,
            )
        built = build_w3c(fmt, fields, w3c, where=source.name)
        return self._check_forced(built, source, lines) if forced else built

    def _check_forced(self, fmt: FormatDef, source: Source, lines: list[str]) -> FormatDef:
        """A format the options name must read one of the first lines, as a detected one does."""
        c = self.config
        sample = first_lines(lines)
        if not sample or reads_any(fmt, sample, c.tracking, timezone=c.formats.timezone):
            return fmt
        option = "--log-format-regex" if c.formats.regex else "--log-format-name"
        raise FormatError(
            f"{source.name}: the format {fmt.name} given by {option} reads none of the first lines. First line: "
            f"{sample[0][:120]!r}. Leave {option} out to detect the format (see --list-formats), or correct it.",
            path=source.name,
            tried=(fmt.name,),
        )


def _has_fd(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _chain(first: list[tuple[int, bytes]], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from first
    yield from rest
