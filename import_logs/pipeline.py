"""The spine of an import: sources → workers → ordered merge → lanes → backend, counted in :class:`Stats`.

``Importer(config).run()`` is the one entry point of the core. It raises :mod:`import_logs.errors` for what
stops an import and ``KeyboardInterrupt`` for Ctrl-C; either way ``importer.stats`` holds the figures so far.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import BinaryIO, TextIO

from import_logs.backends import Batch, EncodeSpec, Sender
from import_logs.backends.file import FileSender
from import_logs.config import Config
from import_logs.errors import ConfigError, WorkerError
from import_logs.events import EventSink, FileStarted, LineRejected, Notice, Progress, ignore
from import_logs.formats import FormatDef, detect, get_format, load_format_file, user_regex_format
from import_logs.lanes import Lanes
from import_logs.sources import (
    Block,
    Source,
    byte_ranges,
    head_lines,
    open_stream,
    resolve_inputs,
    stream_blocks,
)
from import_logs.stats import Stats
from import_logs.worker import BlockResult, WorkContext, init_worker, process_block

Job = tuple[WorkContext, Block]


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
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


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
        self.stats = Stats(dry_run=config.dry_run and not config.save_requests)
        self.stop = threading.Event()
        self.sources: list[Source] = []
        self._line_base: dict[int, int] = {}
        self._bytes_total = 0
        self._bytes_done = 0
        self._lanes: Lanes | None = None

    # --- set-up -------------------------------------------------------------------------------------------

    def _sender(self) -> Sender:
        c = self.config
        if c.save_requests is not None:
            if c.save_requests == "-":
                return FileSender(c, self.stdout)
            try:
                stream = open(c.save_requests, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise ConfigError(
                    f"--save-requests {c.save_requests}: cannot write there ({exc.strerror}). Choose another path."
                ) from None
            return _OwnedFileSender(c, stream)
        if c.dry_run:
            return FileSender(c, None)
        if c.backend.name != "piwikpro":
            raise ConfigError(f"unknown backend {c.backend.name!r}. Known backends: piwikpro.")
        from import_logs.backends.piwikpro import (
            PiwikProSender,
        )  # httpx only when there is a server to talk to

        return PiwikProSender(c, stop=self.stop, on_retry=lambda text: self.on_event(Notice(text)))

    # --- the run ------------------------------------------------------------------------------------------

    def run(self) -> Stats:
        c = self.config
        self.sources = resolve_inputs(c.inputs)
        self.stats.files = [s.name for s in self.sources]
        self._bytes_total = sum(s.size or 0 for s in self.sources)
        forced = forced_format(c)
        sender = self._sender()
        try:
            spec = sender.prepare()
            if not self.stats.dry_run:
                self._lanes = Lanes(
                    c.backend.recorders,
                    c.backend.payload_size or sender.default_payload_size,
                    sender.send,
                    self._sent,
                    self.stop,
                    self.stats.files,
                )
            jobs = self._jobs(forced, spec)
            try:
                for result in self._results(jobs):
                    if not self._merge(result):
                        break
            finally:
                jobs.close()
            if self._lanes is not None:
                self._lanes.close()
        except BaseException:
            self.stop.set()
            if self._lanes is not None:
                self._lanes.abort()
            raise
        finally:
            sender.close()
            self.stats.finish()
        return self.stats

    def _sent(self, batch: Batch) -> None:
        self.stats.add_sent(len(batch.items))

    def _jobs(self, forced: FormatDef | None, spec: EncodeSpec) -> Generator[Job, None, None]:
        c = self.config
        seq = 0
        for source in self.sources:
            self._line_base[source.index] = 0
            stream = None
            first: tuple[int, bytes] | None = None
            blocks: Iterator[tuple[int, bytes]] | None = None
            if source.path is None or source.compression:
                stream = open_stream(source, self.stdin)
                blocks = stream_blocks(stream, c.block_size)
                first = next(blocks, None)
            try:
                lines = head_lines(source, first[1] if first else None, encoding=c.formats.encoding)
                if not any(line.strip() for line in lines):
                    self.on_event(Notice(f"{source.name}: empty, nothing to import"))
                    self.stats.formats[source.name] = ""
                    continue
                fmt = forced or detect(lines, path=source.name)
                self.stats.formats[source.name] = fmt.name
                self.on_event(FileStarted(source.name, fmt.name, source.size))
                ctx = WorkContext(
                    fmt=fmt,
                    filters=c.filters,
                    encode=spec,
                    lanes=max(1, c.backend.recorders),
                    encoding=c.formats.encoding,
                    keep_rejected=c.verbose > 0,
                )
                if blocks is None:
                    assert source.path is not None and source.size is not None
                    for start, end in byte_ranges(source.path, source.size, c.block_size):
                        yield ctx, Block(source.index, seq, start, end, path=source.path)
                        seq += 1
                else:
                    pending = [first] if first else []
                    for offset, data in _chain(pending, blocks):
                        yield ctx, Block(source.index, seq, offset, offset + len(data), data=data)
                        seq += 1
            finally:
                if stream is not None and source.path is not None:
                    stream.close()

    def _results(self, jobs: Iterator[Job]) -> Iterator[BlockResult]:
        """Results in the order of the jobs; at most a few blocks per worker under way (bounded memory)."""
        workers = self.config.workers
        if workers <= 1:
            for ctx, block in jobs:
                yield process_block(ctx, block)
            return
        executor = ProcessPoolExecutor(workers, mp_context=mp_context(), initializer=init_worker)
        window: deque[Future[BlockResult]] = deque()
        try:
            for ctx, block in jobs:
                window.append(executor.submit(process_block, ctx, block))
                if len(window) >= 2 * workers:
                    yield self._wait(window.popleft())
            while window:
                yield self._wait(window.popleft())
        finally:
            _shutdown(executor, window)

    def _wait(self, future: Future[BlockResult]) -> BlockResult:
        try:
            return future.result()
        except BrokenProcessPool:
            raise WorkerError(
                "a worker process died (killed, or out of memory) while parsing. Nothing after the last "
                "accepted batch was lost: run the import again."
            ) from None

    def _merge(self, r: BlockResult) -> bool:
        stats = self.stats
        base = self._line_base[r.source]
        self._line_base[r.source] = base + r.lines
        stats.lines += r.lines
        stats.kept += r.kept
        stats.downloads += r.downloads
        stats.skipped.update(r.skipped)
        stats.invalid.update(r.invalid)
        name = self.sources[r.source].name
        for index, reason, line in r.rejected:
            self.on_event(LineRejected(name, base + index + 1, reason, line))
        lanes = self._lanes
        if lanes is not None:
            src = r.source
            for lane, (indexes, items) in enumerate(r.lanes):
                if items and not lanes.add(lane, [(src, base + i + 1) for i in indexes], items):
                    return False
        if self.sources[r.source].compression is None:
            self._bytes_done += r.end - r.start
        self.on_event(Progress(stats.lines, stats.kept, stats.sent, self._bytes_done, self._bytes_total))
        return True


def _chain(first: list[tuple[int, bytes]], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from first
    yield from rest


def _shutdown(executor: Executor, window: deque[Future[BlockResult]]) -> None:
    """Stop the workers without waiting for blocks nobody will read (Ctrl-C, an error)."""
    for future in window:
        future.cancel()
    executor.shutdown(wait=not window, cancel_futures=True)
    if window:
        for child in multiprocessing.active_children():
            child.terminate()


class _OwnedFileSender(FileSender):
    """A file sender that closes its file at the end."""

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
