"""``--follow``: files read on as they grow and across rotations, until the import is stopped.

Each live file (a name without a rotation number, date or compression suffix) is a :class:`Tail`: an open
descriptor and the byte where the next block starts. Every ``--follow-poll`` seconds each tail is looked at:

* the file grew: its new complete lines become blocks (read here, through the descriptor, so a rename under us
  changes nothing); an unfinished last line waits for its newline;
* the path names another file now, or none (logrotate's rename, maybe compressed later): the old file is read
  through the descriptor until it has not grown for ``rotate_grace`` seconds (the server reopens its log), then
  to its very end, and the new file at the path is followed from its start;
* the file is shorter than what was read, or as long but with other first bytes or other bytes just before the
  place read (copytruncate, and the emptied file written past that place between two looks): the lines between
  the last block and the cut are in the copy, found among the path's rotated copies by its first bytes, and
  read from there; then the emptied file is followed from its start as new content.

A tail keeps one source (one state entry) from start to end, so the ledger advances each checkpoint as for any
file, and a restart resumes where the server's answers left it. After each look the merge catches up and
partial batches older than ``--flush-interval`` are sent (see :class:`~import_logs.pipeline.pool.Tick`).
"""

from __future__ import annotations

import glob
import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, Generic, Protocol, TypeVar

from import_logs.checkpoint.state import FINGERPRINT_BYTES
from import_logs.config import Config
from import_logs.errors import CorruptInputError
from import_logs.events import Change, EventSink, Notice, SourceEvent
from import_logs.sources.files import (
    HEAD_LIMIT,
    MAX_LINE,
    STDIN,
    Block,
    compression_of,
    skip_bytes,
    stream_blocks,
)
from import_logs.sources.heads import sample
from import_logs.sources.kinds import FileSource, Source, file_paths
from import_logs.sources.marks import TICK, Control, Ended
from import_logs.sources.rotation import is_live, rotated_copies

#: How many of the last bytes read are checked at each look, to see a file rewritten under the same name.
MARK_BYTES = 64


#: What the planner makes of a source for the workers (its format, filters, encoder): opaque here.
C = TypeVar("C")


class TailPlanning(Protocol[C]):
    """What the follower asks of the planner: to plan a live file once it has a complete line (its state entry,
    format and ledger; None: not to be read), to know that its first bytes grew, to cut bytes read into jobs
    (a W3C ``#Fields:`` line among them gives the next ones another context), and to know of each file followed
    from now on (the time merge waits for its lines)."""

    def begin_tail(
        self, source: Source, head: bytes, lines: list[str], stat: os.stat_result
    ) -> tuple[C, int] | None: ...

    def grown(self, source: int, head: bytes) -> None: ...

    def opened(self, source: int) -> None: ...

    def whole(self, source: Source) -> Iterator[tuple[C, Block] | Control]: ...

    def blocks(self, ctx: C, source: Source, offset: int, data: bytes) -> Iterator[tuple[C, Block]]: ...


@dataclass
class Tail(Generic[C]):
    """One followed file: the source it is read as, its descriptor, and the byte where the next block starts."""

    source: FileSource
    file: BinaryIO | None
    offset: int = 0
    #: None until the file has a complete line (then its format is known and its entry tracked).
    ctx: C | None = None
    #: Its first bytes (up to a fingerprint's length): how its copy is recognised after copytruncate.
    head: bytes = b""
    #: The last bytes read (up to :data:`MARK_BYTES`, ending at ``offset``): still there, or the file was rewritten.
    mark: bytes = b""
    #: The size last seen, and when it last changed (monotonic seconds).
    size: int = 0
    changed_at: float = 0.0
    #: Its modification time at the last look, and when that look was (wall clock; 0: not looked at yet).
    mtime_ns: int = 0
    looked_at: float = 0.0
    #: Since when the path names another file (or none).
    moved_at: float | None = None
    #: The same content as another source of this run: never read.
    dead: bool = False

    @property
    def path(self) -> str:
        return self.source.path

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class Follower(Generic[C]):
    """The tails of one run and the loop that reads them on; ``planning`` plans each live file and cuts what is
    read of it into jobs (see :class:`TailPlanning`)."""

    def __init__(
        self,
        config: Config,
        sources: list[Source],
        on_event: EventSink,
        stop: threading.Event,
        planning: TailPlanning[C],
    ) -> None:
        self.config = config
        self.sources = sources
        self.on_event = on_event
        self.stop = stop
        self.planning = planning
        self.tails: list[Tail[C]] = []
        self._paths: set[str] = file_paths(sources)
        #: The first bytes of the files followed to their end in this run: a copy made of one later (renamed and
        #: compressed) is not a copy of what a tail has not read yet.
        self._read_heads: list[bytes] = []

    # --- the loop -----------------------------------------------------------------------------------------

    def start(self, source: FileSource) -> Iterator[tuple[C, Block]]:
        """A live file named on the command line: followed from now on, its lines so far read first."""
        tail: Tail[C] = self._tail(source)
        self.tails.append(tail)
        yield from self._read(tail)

    def run(self) -> Iterator[tuple[C, Block] | Control]:
        """Look at every tail each ``--follow-poll`` seconds until the import is stopped. Nothing to follow (only
        standard input or named pipes, now ended, and no pattern that a new file could match): the run ends."""
        poll = self.config.follow.poll
        if not self.tails and not any(glob.has_magic(p) for p in self.config.inputs if p != STDIN):
            return
        while not self.stop.is_set():
            for tail in list(self.tails):
                yield from self._poll(tail)
            yield from self._discover()
            yield TICK
            if self.stop.wait(poll):
                return

    def lag(self) -> dict[str, int]:
        """Per followed file, the bytes written to it but not read yet (called from another thread)."""
        lag = {}
        for tail in list(self.tails):
            file = tail.file
            if tail.dead or file is None:
                continue
            try:
                lag[tail.path] = max(0, os.fstat(file.fileno()).st_size - tail.offset)
            except (OSError, ValueError):  # closed meanwhile (rotated away)
                continue
        return lag

    def close(self) -> None:
        """The run is over: every followed file is closed."""
        for tail in self.tails:
            tail.close()

    def _poll(self, tail: Tail[C]) -> Iterator[tuple[C, Block] | Control]:
        if tail.dead:
            return
        if tail.file is None:  # rotated away and not created again yet
            tail.file = _open(tail.path)
            if tail.file is None:
                return
        fd = tail.file.fileno()
        mine = os.fstat(fd)
        try:
            there = os.stat(tail.path)
        except OSError:
            there = None
        same = there is not None and (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)
        now = time.monotonic()
        emptied = same and tail.ctx is None and tail.looked_at and mine.st_mtime_ns != tail.mtime_ns
        if emptied:  # maybe emptied: emptied and written again past its old size, too
            yield from self._emptied(tail, tail.looked_at)
        tail.mtime_ns, tail.looked_at = mine.st_mtime_ns, time.time()
        if mine.st_size != tail.size:
            tail.size, tail.changed_at = mine.st_size, now
        if same and (mine.st_size < tail.offset or _rewritten(tail, fd)):
            yield from self._truncated(tail)
            return
        yield from self._read(tail)
        if same:
            tail.moved_at = None
            return
        if tail.moved_at is None:
            tail.moved_at = now
        grace = self.config.follow.rotate_grace
        if now - tail.moved_at >= grace and now - tail.changed_at >= grace:
            yield from self._read(tail, final=True)
            self.on_event(
                SourceEvent(
                    f"{tail.path}: rotated; its old file was read to its end, the new one follows",
                    source=tail.path,
                    change=Change.ROTATED,
                )
            )
            yield from self._replace(tail)

    def _replace(self, tail: Tail[C]) -> Iterator[tuple[C, Block] | Control]:
        """The tail's file has ended: the file now at its path (or later) is followed as a new source."""
        if tail.ctx is not None:
            yield Ended(tail.source.index)
        if tail.head:
            self._read_heads.append(tail.head)
        tail.close()
        self.tails.remove(tail)
        self.tails.append(self._tail(self._new_source(tail.path)))
        yield from self._read(self.tails[-1])

    def _tail(self, source: FileSource) -> Tail[C]:
        self.planning.opened(source.index)
        tail: Tail[C] = Tail(source, _open(source.path), changed_at=time.monotonic())
        if tail.file is not None:  # what it is now: a change before the next look is seen then
            stat = os.fstat(tail.file.fileno())
            tail.size, tail.mtime_ns, tail.looked_at = stat.st_size, stat.st_mtime_ns, time.time()
        return tail

    def _new_source(self, path: str) -> FileSource:
        source = FileSource(len(self.sources), path, path, None, None)
        self.sources.append(source)
        return source

    def _discover(self) -> Iterator[tuple[C, Block] | Control]:
        """Live files that match an input pattern now and are not followed yet (a new virtual host's log)."""
        followed = {t.path for t in self.tails}
        for pattern in self.config.inputs:
            if not glob.has_magic(pattern):
                continue
            for path in sorted(glob.glob(pattern)):
                if path in followed or path in self._paths or not is_live(path) or not os.path.isfile(path):
                    continue
                self._paths.add(path)
                self.on_event(Notice(f"{path}: a new file matches {pattern}; following it"))
                tail: Tail[C] = self._tail(self._new_source(path))
                self.tails.append(tail)
                yield from self._read(tail)

    # --- reading ------------------------------------------------------------------------------------------

    def _read(self, tail: Tail[C], final: bool = False) -> Iterator[tuple[C, Block]]:
        """The complete lines added since the last look (with ``final``, the unfinished last one too)."""
        f = tail.file
        if f is None or tail.dead or (tail.ctx is None and not self._start(tail, final)):
            return
        size = os.fstat(f.fileno()).st_size
        block_size = self.config.block_size
        while tail.offset < size:
            f.seek(tail.offset)
            data = f.read(min(block_size, size - tail.offset))
            if not data:
                break
            if not final:
                cut = data.rfind(b"\n") + 1
                if cut == 0 and tail.offset + len(data) < size:  # a line longer than a block
                    data += f.readline(MAX_LINE)
                    cut = len(data) if data.endswith(b"\n") or len(data) >= MAX_LINE else 0
                if cut == 0:
                    break  # its last line is being written: it waits for its newline
                data = data[:cut]
            yield from self._blocks(tail, tail.offset, data)
            tail.offset += len(data)
            tail.mark = data[-MARK_BYTES:]
        if len(tail.head) < FINGERPRINT_BYTES and size > len(tail.head):
            tail.head = os.pread(f.fileno(), FINGERPRINT_BYTES, 0)
            self.planning.grown(tail.source.index, tail.head)

    def _start(self, tail: Tail[C], final: bool) -> bool:
        """Plan the tail's source once it has a complete line: its entry, its format, where to start."""
        assert tail.file is not None
        fd = tail.file.fileno()
        stat = os.fstat(fd)
        head = os.pread(fd, HEAD_LIMIT, 0)
        if b"\n" not in head and stat.st_size > HEAD_LIMIT:  # a first line longer than the head: read it whole
            head = os.pread(fd, HEAD_LIMIT + MAX_LINE, 0)
        if not head or (b"\n" not in head and not final):
            return False
        whole = head if final else head[: head.rfind(b"\n") + 1]
        lines = sample(io.BytesIO(whole), self.config.formats.encoding, cr=False).lines
        written = [line for line in lines if line.strip()]
        if all(line.startswith("#") for line in written) and not final:
            return False  # only W3C headers so far (or a first line longer than the head, alone)
        tail.source = replace(tail.source, size=stat.st_size)
        self.sources[tail.source.index] = tail.source
        begun = self.planning.begin_tail(tail.source, head[:FINGERPRINT_BYTES], lines, stat)
        if begun is None:
            tail.dead = True
            tail.close()
            return False
        tail.ctx, tail.offset = begun
        tail.head = head[:FINGERPRINT_BYTES]
        return True

    def _blocks(self, tail: Tail[C], offset: int, data: bytes) -> Iterator[tuple[C, Block]]:
        assert tail.ctx is not None
        for ctx, block in self.planning.blocks(tail.ctx, tail.source, offset, data):
            tail.ctx = ctx
            yield ctx, block

    def _truncated(self, tail: Tail[C]) -> Iterator[tuple[C, Block] | Control]:
        """Copytruncate: the rest of what was read is in the copy; then the emptied file is new content."""
        copy = self._copy_of(tail) if tail.ctx is not None else None
        if copy is not None:
            self.on_event(
                SourceEvent(
                    f"{tail.path}: truncated (copytruncate); its rest is read from {copy}",
                    source=tail.path,
                    change=Change.TRUNCATED,
                )
            )
            source = FileSource(-1, copy, copy, compression_of(copy), os.path.getsize(copy))
            stream = source.open()
            try:
                skip_bytes(stream, tail.offset)
                for offset, data in stream_blocks(stream, self.config.block_size, start=tail.offset):
                    yield from self._blocks(tail, offset, data)
            except CorruptInputError as exc:
                self.on_event(SourceEvent(str(exc), warning=True, source=copy, change=Change.FAILED))
            finally:
                stream.close()
        elif tail.ctx is not None:
            self.on_event(
                SourceEvent(
                    f"{tail.path}: truncated (copytruncate) and no rotated copy beside it starts as it did; lines "
                    f"written after byte {tail.offset:,} and before the cut could not be read",
                    warning=True,
                    source=tail.path,
                    change=Change.TRUNCATED,
                )
            )
        yield from self._replace(tail)

    def _emptied(self, tail: Tail[C], since: float) -> Iterator[tuple[C, Block] | Control]:
        """Written and emptied (copytruncate) between two looks, before a line of it was read: what was written is
        in the copy made since the last look, read whole as a source of its own."""
        opened = [os.fstat(t.file.fileno()) for t in self.tails if t.file is not None]
        reading = {(stat.st_dev, stat.st_ino) for stat in opened}
        made = []
        for path in rotated_copies(tail.path):
            try:
                stat = os.stat(path)
            except OSError:
                continue
            # A copy (a new file, not one renamed and read through its descriptor) made since the last look, and
            # not of a file read before (an older log compressed meanwhile).
            if stat.st_ctime >= since - 0.01 and (stat.st_dev, stat.st_ino) not in reading and not self._was_read(path):
                made.append(path)
        if not made:
            return
        copy = made[-1]
        self.on_event(
            SourceEvent(
                f"{tail.path}: written and truncated (copytruncate) before a line of it was read; its lines are read "
                f"from {copy}",
                source=tail.path,
                change=Change.TRUNCATED,
            )
        )
        source = replace(self._new_source(copy), compression=compression_of(copy), size=os.path.getsize(copy))
        self.sources[source.index] = source
        self._paths.add(copy)
        yield from self.planning.whole(source)

    def _was_read(self, path: str) -> bool:
        """The file starts as one followed to its end in this run did (or cannot be read)."""
        if not self._read_heads:
            return False
        try:
            stream = FileSource(-1, path, path, compression_of(path), None).open()
            try:
                head = stream.read(FINGERPRINT_BYTES)
            finally:
                stream.close()
        except (OSError, CorruptInputError):
            return True
        return bool(head) and any(head.startswith(h) or h.startswith(head) for h in self._read_heads)

    def _copy_of(self, tail: Tail[C]) -> str | None:
        """The newest rotated copy whose content starts as the tail's file did."""
        for path in reversed(rotated_copies(tail.path)):
            source = FileSource(-1, path, path, compression_of(path), None)
            try:
                stream = source.open()
                try:
                    head = stream.read(len(tail.head))
                finally:
                    stream.close()
            except (OSError, CorruptInputError):
                continue
            if tail.head and head == tail.head:
                return path
        return None


def _rewritten(tail: Tail[C], fd: int) -> bool:
    """Copytruncate and a regrowth past the place read, between two looks: the file is as long as before, but
    its first bytes, or the last bytes read, are not what they were."""
    if tail.ctx is None:
        return False
    if tail.head and os.pread(fd, len(tail.head), 0) != tail.head:
        return True
    return bool(tail.mark) and os.pread(fd, len(tail.mark), tail.offset - len(tail.mark)) != tail.mark


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None
