"""The spine of an import: sources → workers → ordered merge → lanes → backend, counted in :class:`Stats`.

``Importer(config).run()`` is the one entry point of the core. It raises :mod:`import_logs.errors` for what
stops an import and :class:`~import_logs.errors.Interrupted` once :meth:`Importer.interrupt` was called (the CLI
calls it on Ctrl-C and SIGTERM); either way ``importer.stats`` holds the figures so far
and the state file holds every line the server accepted.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import BinaryIO, TextIO

from import_logs.backends import Batch, EncodeSpec, SendResult, destination, open_sender
from import_logs.backends.sites import SiteMap
from import_logs.checkpoint.ledger import Ledger
from import_logs.checkpoint.resume import Resume, plan, read_head
from import_logs.checkpoint.state import StateFile, default_state_path
from import_logs.config import Config
from import_logs.errors import ConfigError, CorruptInputError, FormatError, Interrupted, WorkerError
from import_logs.events import EventSink, FileStarted, LineRejected, Notice, Progress, ignore
from import_logs.parsing.formats import FormatDef, detect, first_lines, get_format, load_format_file, user_regex_format
from import_logs.parsing.hit import EMPTY, reads_any
from import_logs.parsing.timeparse import resolve_zone
from import_logs.parsing.w3c import build as build_w3c
from import_logs.parsing.w3c import cut_at_fields, fields_before, header_fields
from import_logs.pipeline.lanes import Lanes
from import_logs.pipeline.worker import BlockResult, WorkContext, init_worker, process_block
from import_logs.sources import (
    Block,
    CheckedStream,
    LimitedStream,
    Source,
    byte_ranges,
    head_lines,
    open_stream,
    resolve_inputs,
    skip_bytes,
    stream_blocks,
)
from import_logs.stats import Stats

Job = tuple[WorkContext, Block]
#: Seconds the requests under way get to end when the import is asked to stop.
ABORT_WAIT = 1.5


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


def mp_context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one (no fork of a threaded process), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # '__main__' is multiprocessing's default (workers start with the importer's modules imported); ours makes
    # the forkserver end with the importer.
    context.set_forkserver_preload(["__main__", "import_logs.pipeline.orphans"])
    return context


def state_file_for(
    config: Config, *, read_only: bool, on_wait: Callable[[str], None] | None = None
) -> StateFile | None:
    """The state file of the configured destination (None when there is none to keep)."""
    dest = destination(config)
    if dest is None:
        return None
    path = config.state.path
    if path is None:
        if config.save_requests is not None or config.state.directory is None:
            return None
        path = default_state_path(config.state.directory, dest)
    if read_only and not os.path.exists(path):
        return None
    return StateFile(path, dest, lock_timeout=config.state.lock_timeout, read_only=read_only, on_wait=on_wait)


def dump_format(config: Config, stdin: BinaryIO | None = None) -> list[str]:
    """--dump-log-regex: the format of the first file (named or detected), and how it reads a line."""
    source = resolve_inputs(config.inputs)[0]
    fmt = forced_format(config)
    if fmt is None:
        head = None
        if source.path is None:
            head = next(stream_blocks(open_stream(source, stdin), config.block_size), (0, b""))[1]
        fmt = detect(head_lines(source, head, encoding=config.formats.encoding), path=source.name)
    if fmt.kind == "json":
        return [f"{source.name}: {fmt.name} (JSON)", *(f"  {group} <- {paths}" for group, paths in fmt.keys)]
    return [f"{source.name}: {fmt.name}", fmt.regex]


def show_state(config: Config) -> list[str]:
    """--show-state: what the state file of this destination holds."""
    state = state_file_for(config, read_only=True)
    if state is None:
        return ["no state kept yet for this destination (give --url and --idsite, or --state-file)"]
    with state:
        return list(state.describe())


def reset_state(config: Config) -> list[str]:
    """--reset-state: forget the given files, so that the next run imports them again from the start."""
    state = state_file_for(config, read_only=False)
    if state is None:
        raise ConfigError(
            "--reset-state: no state file for this destination; give --url and --idsite, or --state-file."
        )
    said = []
    with state:
        if not config.inputs:  # no file named: forget every one
            said = [f"{entry.path}: forgotten; the next run imports it again" for entry in state.entries]
            state.forget(list(state.entries))
            state.save(clean=True)
            return said or ["the state holds no file"]
        for source in resolve_inputs(config.inputs):
            if source.path is None:
                continue
            entry = state.match(read_head(source), source.path, 0, 0)
            if entry is None:
                said.append(f"{source.name}: not in the state")
                continue
            state.forget([entry])
            said.append(
                f"{source.name}: forgotten (was imported up to line {entry.line}); the next run imports it again"
            )
        state.save(clean=True)
    return said


class Importer:
    def __init__(
        self,
        config: Config,
        *,
        on_event: EventSink = ignore,
        stdin: BinaryIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.config = config
        self.on_event = on_event
        self.stdin = stdin
        self.stdout = stdout
        self.stats = Stats(dry_run=config.dry_run and not config.save_requests, saved_to=config.save_requests or "")
        self.stop = threading.Event()
        #: The signal that asked the import to stop (see :meth:`interrupt`).
        self.interrupted: int | None = None
        self.sources: list[Source] = []
        self.state: StateFile | None = None
        self.ledger: Ledger | None = None
        self._resume: dict[int, Resume] = {}
        self._line_base: dict[int, int] = {}
        self._current: int | None = None
        self._bytes_total = 0
        self._bytes_done = 0
        self._lanes: Lanes | None = None
        #: Sites by host name (no --idsite): set once the sender says so.
        self._sites: SiteMap | None = None
        self._per_source_hits: dict[int, int] = {}
        self._checked: set[str] = set()
        #: Sources that could not be read to their end: never marked done.
        self._incomplete: set[int] = set()
        #: Compressed bytes read so far of each compressed source (its progress).
        self._compressed_read: dict[int, int] = {}
        #: Sources cut short under us while they were read (copytruncate).
        self._cut: set[int] = set()
        #: Sources with a line the format could read; per source, the lines it could not.
        self._readable: set[int] = set()
        self._bad: dict[int, int] = {}

    def interrupt(self, signum: int) -> None:
        """Ask the import to stop; safe to call from a signal handler (it only sets flags). The import stops
        reading, gives the requests under way a moment, saves the state and raises :class:`Interrupted`."""
        self.interrupted = signum
        self.stop.set()

    def _check_interrupted(self) -> None:
        if self.interrupted is not None:
            raise Interrupted(self.interrupted)

    # --- the run ------------------------------------------------------------------------------------------

    def run(self) -> Stats:
        c = self.config
        self.sources = resolve_inputs(c.inputs)
        self.stats.files = [s.name for s in self.sources]
        if len(self.sources) > 1:
            order = ", ".join(s.name for s in self.sources)
            self.on_event(Notice(f"reading the files in this order (each log's oldest first): {order}", detail=True))
        self._bytes_total = sum(s.size or 0 for s in self.sources)
        forced = forced_format(c)
        resolve_zone(c.formats.timezone)  # a wrong --timezone stops here, before anything is sent
        if c.request_limit is not None:
            self.on_event(Notice(f"--debug-request-limit {c.request_limit}: a trial run, no state file is kept"))
            self.state = None
        else:
            self.state = state_file_for(
                c, read_only=self.stats.dry_run, on_wait=lambda text: self.on_event(Notice(text, warning=True))
            )
        with self.state or contextlib.nullcontext():
            if self.state is not None:
                self.stats.state_file = self.state.path
                if not self.state.previous_clean and self.state.previous_in_flight:
                    self.stats.previous_in_flight = self.state.previous_in_flight
                    self.on_event(
                        Notice(
                            f"the previous run stopped while sending: up to {self.state.previous_in_flight} of its "
                            "hits may have been accepted without it knowing, and are sent again now.",
                            warning=True,
                        )
                    )
            self._run(forced)
        return self.stats

    def _run(self, forced: FormatDef | None) -> None:
        c = self.config
        # The worker processes start now, while the sender signs in and the format is detected.
        executor = _start_workers(c.workers) if c.workers > 1 else None
        window: deque[Future[BlockResult]] = deque()
        sender = open_sender(c, stop=self.stop, on_retry=lambda t: self.on_event(Notice(t)), stdout=self.stdout)
        try:
            self._check_interrupted()
            spec = sender.prepare()
            self._check_interrupted()
            if spec.per_hit_site and not self.stats.dry_run:
                self._sites = SiteMap(sender, c.backend, self.stats, self.on_event)
            payload = c.backend.payload_size or sender.default_payload_size
            if self.state is not None and not self.state.read_only:
                self.ledger = Ledger(self.state, in_flight_bound=max(1, c.backend.recorders) * payload)
            if not self.stats.dry_run:
                self._lanes = Lanes(
                    c.backend.recorders,
                    payload,
                    sender.send,
                    self._sent,
                    self.stop,
                    self.stats.files,
                    pause=c.http.sleep_between,
                )
            jobs = self._jobs(forced, spec)
            try:
                for result in self._results(jobs, executor, window):
                    if self.interrupted is not None or not self._merge(result):
                        break
            finally:
                jobs.close()
            self._check_interrupted()
            if self._lanes is not None:
                self._lanes.close()
            self._check_interrupted()  # the lanes dropped what was left once asked to stop
            self._finish_source()
            if self.ledger is not None:
                self.ledger.save(clean=True)
        except BaseException as exc:
            self.stop.set()
            if self._lanes is not None:
                if self.interrupted is not None and not self._lanes.idle():
                    self.on_event(
                        Notice(
                            f"stopping: waiting up to {ABORT_WAIT:g} s for the requests under way, then saving "
                            "the state",
                            warning=True,
                        )
                    )
                self._lanes.abort(ABORT_WAIT)
            if self.ledger is not None:
                self.ledger.save(clean=self._lanes is None or self._lanes.idle())
                self.ledger.close()
            if self.interrupted is not None and not isinstance(exc, Interrupted):
                raise Interrupted(self.interrupted) from None  # a retry cut short by the stop, say
            raise
        finally:
            if executor is not None:
                _shutdown(executor, window)
            sender.close()
            self.stats.finish()

    def _sent(self, batch: Batch, result: SendResult | None) -> None:
        rejected: list[tuple[str, int, str]] = []
        dropped = 0
        if result is not None:
            for index, reason in result.rejected:
                name, lineno = batch.where(index)
                rejected.append((name, lineno, reason))
                self.on_event(Notice(f"{name}:{lineno}: {reason}"))
            dropped = result.dropped
            if dropped:
                name, lineno = batch.where()
                self.on_event(
                    Notice(
                        f"the server stored {len(batch.items) - len(rejected) - dropped} of the {len(batch.items)} "
                        f"hits of the batch starting at {name}:{lineno} and refused none: {dropped} were dropped "
                        "without an error (Matomo does so on database lock timeouts; check its logs)."
                    )
                )
        self.stats.add_sent(len(batch.items), rejected, dropped, result.maybe_twice if result is not None else 0)
        if self.ledger is not None:
            self.ledger.accept(batch.refs)

    def _plan(self, source: Source, claimed: set[int]) -> Resume:
        if self.state is not None and source.path is None:
            self.stats.streams.append(source.name)
        if self.state is None or source.path is None:
            return Resume()
        resume = plan(self.state, source, force=self.config.state.force_reimport, claimed=claimed)
        for note in resume.notes:
            self.on_event(Notice(note))
        self.stats.already_imported += resume.line
        return resume

    def _jobs(self, forced: FormatDef | None, spec: EncodeSpec) -> Generator[Job, None, None]:
        claimed: set[int] = set()
        for source in self.sources:
            try:
                yield from self._source_jobs(source, forced, spec, claimed)
            except CorruptInputError as exc:  # the lines before the fault go on; this file waits to be whole
                self._incomplete.add(source.index)
                self.stats.unreadable[source.name] = exc.reason
                self.stats.formats.setdefault(source.name, "")
                self.on_event(Notice(str(exc)))

    def _source_jobs(
        self, source: Source, forced: FormatDef | None, spec: EncodeSpec, claimed: set[int]
    ) -> Generator[Job, None, None]:
        """The blocks of one source, from where the state says it stands."""
        c = self.config
        resume = self._plan(source, claimed)
        if resume.nothing:
            self.on_event(Notice(f"{source.name}: {resume.nothing}, nothing to import"))
            self.stats.formats[source.name] = ""
            self._bytes_done += source.size or 0
            return
        self._resume[source.index] = resume
        self._line_base[source.index] = resume.line
        stream = None
        first: tuple[int, bytes] | None = None
        blocks: Iterator[tuple[int, bytes]] | None = None
        try:
            if source.path is None or source.compression:
                stream = open_stream(source, self.stdin)
                skip_bytes(stream, resume.offset)
                blocks = stream_blocks(stream, c.block_size, start=resume.offset)
                first = next(blocks, None)
                if first is None and resume.entry is not None and resume.offset:
                    resume.entry.done = bool(source.compression)
                    self.on_event(Notice(f"{source.name}: no new lines, nothing to import"))
                    self.stats.formats[source.name] = ""
                    return
            lines = head_lines(source, first[1] if first else None, encoding=c.formats.encoding)
            written = [line for line in lines if line.strip()]
            if not written or all(line.startswith("#") for line in written):
                said = "only W3C headers" if written else "empty"
                self.on_event(Notice(f"{source.name}: {said}, nothing to import"))
                self.stats.formats[source.name] = ""
                return
            fmt = self._format_for(source, lines, forced, resume)
            self.stats.formats[source.name] = fmt.name
            self._check_groups(fmt)
            by_host = spec.per_hit_site and spec.replay_suffixes is None and not c.tracking.log_hostname
            if by_host and "host" not in fmt.groups:
                raise ConfigError(
                    f"{source.name}: the {fmt.name} format has no host, so the site of its hits cannot "
                    "be found by host name. Give --idsite, or --log-hostname=HOST."
                )
            if self.ledger is not None and resume.entry is not None:
                self.ledger.track(source.index, resume.entry)
            self.on_event(FileStarted(source.name, fmt.name, source.size))
            ctx = WorkContext(
                fmt=fmt,
                filters=c.filters,
                encode=spec,
                encoding=c.formats.encoding,
                timezone=c.formats.timezone,
                keep_rejected=c.verbose > 0,
                encode_hits=not self.stats.dry_run,
            )
            if source.path is not None and not source.compression:
                self._bytes_done += resume.offset  # the progress starts where the file is resumed
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
                if isinstance(stream, CheckedStream):
                    self._compressed_read[source.index] = stream.consumed()
                pieces = cut_at_fields(offset, data) if fmt.comments else iter([(offset, data, None)])
                for at, piece, fields in pieces:
                    if fields is not None:
                        ctx = replace(ctx, fmt=build_w3c(fmt, fields, c.formats.w3c, where=source.name))
                    yield ctx, Block(source.index, at, at + len(piece), data=piece)
        finally:
            if stream is not None and (source.path is not None or source.stream is not None):
                stream.close()

    def _check_groups(self, fmt: FormatDef) -> None:
        """Say once per format which groups named by the options it does not have (the reference crashed)."""
        t = self.config.tracking
        if fmt.name in self._checked or not (t.page_cvars or t.visit_cvars or t.ignore_groups):
            return
        self._checked.add(fmt.name)
        groups = fmt.groups
        for option, names in (
            ("--regex-group-to-page-cvar", [g for g, _ in t.page_cvars]),
            ("--regex-group-to-visit-cvar", [g for g, _ in t.visit_cvars]),
            ("--ignore-groups", list(t.ignore_groups)),
        ):
            missing = [name for name in names if name not in groups]
            if missing:
                self.on_event(
                    Notice(
                        f"{option}: the {fmt.name} format has no group {', '.join(missing)}; ignored. Its groups: "
                        f"{', '.join(sorted(groups))}."
                    )
                )

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

    def _results(
        self, jobs: Iterator[Job], executor: Executor | None, window: deque[Future[BlockResult]]
    ) -> Iterator[BlockResult]:
        """Results in the order of the jobs; at most a few blocks per worker under way (bounded memory)."""
        if executor is None:
            for ctx, block in jobs:
                yield process_block(ctx, block)
            return
        workers = self.config.workers
        try:
            for ctx, block in jobs:
                window.append(executor.submit(process_block, ctx, block))
                if len(window) >= 2 * workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        except BrokenProcessPool:  # from result(), or from submit() once the pool knows
            raise WorkerError(
                "a worker process died (killed, or out of memory) while parsing. Nothing after the last "
                "accepted batch was lost: run the import again."
            ) from None

    def _finish_source(self) -> None:
        src = self._current
        if src is not None and self._bad.get(src) and src not in self._readable:
            self._no_valid_line(src)
        if src in self._incomplete:
            return
        if self._current is not None and self.ledger is not None and self.ledger.tracks(self._current):
            self.ledger.finish_source(self._current)

    def _no_valid_line(self, src: int) -> None:
        """Every line of the source was invalid: say so, and leave its checkpoint where it was (not done)."""
        name = self.sources[src].name
        bad = self._bad[src]
        self._incomplete.add(src)
        self.stats.unreadable[name] = (
            f"none of its {bad:,} lines is a valid {self.stats.formats.get(name) or 'log'} line, so it was not "
            "marked as imported"
        )
        self.on_event(
            Notice(
                f"{name}: none of its {bad:,} lines could be read as {self.stats.formats.get(name)}; it is not marked "
                "as imported. Run with -v to see them, and check --log-format-name, --log-format-regex or "
                "--log-date-format."
            )
        )
        resume = self._resume[src]
        if self.ledger is not None and self.ledger.tracks(src):
            self.ledger.rewind(src, resume.offset, resume.line)

    def _cut_short(self, r: BlockResult) -> None:
        """The file was cut short while it was read (copytruncate): it ends, for this run, before this block.

        Nothing of this block or of the later ones counts, so the checkpoint stays at the last block read whole,
        and the next run reads on from there in the rotated copy (its content, so its fingerprint, is the same).
        """
        if r.source in self._cut:
            return
        self._cut.add(r.source)
        self.on_event(
            Notice(
                f"{self.sources[r.source].name}: became shorter while it was read (rotated by copytruncate?); it was "
                f"imported up to line {self._line_base[r.source]:,}, and the next run reads on from there in the "
                "rotated copy."
            )
        )

    def _merge(self, r: BlockResult) -> bool:
        stats = self.stats
        src = r.source
        if src != self._current:
            self._finish_source()
            self._current = src
        if r.short or src in self._cut:
            self._cut_short(r)
            return True
        invalid = sum(r.invalid.values())
        empty = r.invalid.get(EMPTY, 0)
        self._bad[src] = self._bad.get(src, 0) + invalid - empty
        if r.lines > invalid:
            self._readable.add(src)
        base = self._line_base[src]
        self._line_base[src] = base + r.lines
        stats.lines += r.lines
        stats.kept += r.kept
        stats.downloads += r.downloads
        stats.skipped.update(r.skipped)
        stats.invalid.update(r.invalid)
        name = self.sources[src].name
        for index, reason, line in r.rejected:
            self.on_event(LineRejected(name, base + index + 1, reason, line))
        acked = self._resume[src].acked
        skip = self.config.state.skip
        numbers = [base + i + 1 for i in r.indexes]
        items, visitors, keys = r.items, r.visitors, r.keys
        done_before: list[int] = []
        if numbers and (acked or skip > base):  # a previous run sent some of these, or --skip covers them
            keep = []
            for k, number in enumerate(numbers):
                if number in acked:
                    done_before.append(number)
                elif number <= skip:
                    stats.skipped["skip_option"] += 1
                else:
                    keep.append(k)
            stats.kept -= len(numbers) - len(keep)
            numbers = [numbers[k] for k in keep]
            items = [items[k] for k in keep]
            visitors = [visitors[k] for k in keep]
            keys = [keys[k] for k in keep] if keys else keys
        limit = self.config.request_limit
        if limit is not None and items:
            room = max(0, limit - self._per_source_hits.get(src, 0))
            if len(items) > room:
                stats.skipped["request_limit"] += len(items) - room
                stats.kept -= len(items) - room
                numbers, items, visitors, keys = numbers[:room], items[:room], visitors[:room], keys[:room]
            self._per_source_hits[src] = self._per_source_hits.get(src, 0) + len(items)
        if self._sites is not None and items:
            numbers, items, visitors = self._sites.put(numbers, items, visitors, keys)
        stats.already_imported += len(done_before)
        stats.lines -= len(done_before)  # read again only to find the rest: counted as already imported
        if self.ledger is not None and self.ledger.tracks(src):
            # Recorded before any of its hits can be accepted.
            self.ledger.add_block(src, r.start, r.end, base, r.lines, numbers, done_before)
        if self._lanes is not None and items and not self._lanes.add([(src, n) for n in numbers], items, visitors):
            return False
        if self.sources[src].compression is None:
            self._bytes_done += r.end - r.start
        done = self._bytes_done + sum(self._compressed_read.values())
        self.on_event(Progress(stats.lines, stats.kept, stats.sent, done, self._bytes_total))
        return True


def _chain(first: list[tuple[int, bytes]], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from first
    yield from rest


def _start_workers(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, started now (each gets a no-op), so that they boot in the background."""
    executor = ProcessPoolExecutor(workers, mp_context=mp_context(), initializer=init_worker)
    for _ in range(workers):
        executor.submit(os.getpid)
    return executor


def _shutdown(executor: Executor, window: deque[Future[BlockResult]]) -> None:
    """Stop the workers without waiting for blocks nobody will read (Ctrl-C, an error): the pool's own
    processes only, not every child of the process (the executor keeps them in ``_processes`` up to 3.13)."""
    pool = list((getattr(executor, "_processes", None) or {}).values())
    for future in window:
        future.cancel()
    executor.shutdown(wait=not window, cancel_futures=True)
    if window:
        for process in pool:
            process.terminate()
