"""Where lines come from: files, shell globs, ``-`` (standard input), compressed or not.

A source is cut into blocks of whole lines. A plain file is cut into byte ranges that the workers read
themselves; a compressed file or standard input is read here and its blocks carry their bytes.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from import_logs.errors import CorruptInputError, InputError
from import_logs.sources.objects import ObjectRef
from import_logs.sources.rotation import COMPRESSED_SUFFIXES, oldest_first

STDIN = "-"
#: What ``_check`` says of a file that is not a regular file.
STREAM = "stream"
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
#: A line longer than this is cut, so that one missing newline cannot exhaust memory.
MAX_LINE = 16 << 20


class ByteStream(Protocol):
    """What a source is read through: a file, a decompressor, or standard input."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Source:
    index: int
    name: str
    path: str | None  # None: a stream (standard input, or ``stream``)
    compression: str | None
    size: int | None
    #: A named file that is not a regular file (a FIFO, ``/dev/stdin``, ``<(zcat ...)``): opened once, read as
    #: a stream from its start to its end, with no place in the state.
    stream: str | None = None
    #: An object of a store (``name`` is its URL); its body is fetched by the planner.
    object: ObjectRef | None = None


@dataclass(frozen=True)
class Block:
    """A run of whole lines: bytes of its own, or a byte range of a plain file for a worker to read."""

    source: int
    start: int
    end: int
    path: str | None = None
    data: bytes | None = None

    def read(self) -> bytes | None:
        """The block's bytes; None when the file no longer holds the whole range (cut short under us by
        copytruncate, or removed: a rotated copy compressed meanwhile): those bytes are not the lines that were
        planned, and the block must not count as read."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below; only its opening may fail this way
        except FileNotFoundError:
            return None
        with f:
            f.seek(self.start)
            data = f.read(self.end - self.start)
            if len(data) < self.end - self.start or os.fstat(f.fileno()).st_size < self.end:
                return None
        return data


def compression_of(path: str) -> str | None:
    with open(path, "rb") as f:
        head = f.read(6)
    found = magic_of(head)
    if found:
        return found
    return None if head else COMPRESSED_SUFFIXES.get(os.path.splitext(path)[1].lower())


def _check(path: str) -> str | None:
    """Open the file once, so that a missing or unreadable one stops the import before anything is sent.

    A regular file's compression, by its magic bytes; ``STREAM`` for a pipe or a device, which is not opened
    here (reading its first bytes would take them away from the import, and a FIFO waits for its writer).
    """
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(path, "is a directory, not a log file", "Name the files, e.g. DIR/*.log.")
        if not stat.S_ISREG(mode):
            if not os.access(path, os.R_OK):
                raise PermissionError
            return STREAM
        return compression_of(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None


def resolve_inputs(patterns: Sequence[str]) -> list[Source]:
    """Expand globs, put the files of each log oldest first, check every file, and number the sources."""
    runs: list[list[str]] = [[]]  # the files between two '-' (standard input keeps its place)
    for pattern in patterns:
        if pattern == STDIN:
            runs += [[STDIN], []]
        elif os.path.exists(pattern) or not glob.has_magic(pattern):
            runs[-1].append(pattern)
        else:
            paths = glob.glob(pattern)
            if not paths:
                raise InputError(pattern, "no file matches this pattern", "Check the directory and the pattern.")
            runs[-1] += sorted(paths)
    sources: list[Source] = []
    for run in runs:
        for path in run if run == [STDIN] else oldest_first(run):
            if path == STDIN:
                sources.append(Source(len(sources), "<stdin>", None, None, None))
                continue
            compression = _check(path)
            if compression == STREAM:
                sources.append(Source(len(sources), path, None, None, None, stream=path))
                continue
            size = os.path.getsize(path)
            sources.append(Source(len(sources), path, path, compression, size))
    return sources


#: What the decompressors raise on a file that ends early or is damaged (gzip.BadGzipFile is an OSError).
_DAMAGE: tuple[type[Exception], ...] = (OSError, zlib.error, lzma.LZMAError)


class CheckedStream:
    """A decompressed stream whose faults are a :class:`CorruptInputError` naming the file and the offset.

    It reads in steps, so that what was decompressed before a fault is returned first, and the fault is raised
    by the next read: the lines before a truncation are imported, and the state stops at the last of them.
    """

    STEP = 64 << 10

    def __init__(
        self, stream: ByteStream, path: str, raw: BinaryIO, damage: tuple[type[Exception], ...] = _DAMAGE
    ) -> None:
        self.stream, self.path, self.raw = stream, path, raw
        # One decompression step at a time where the decompressor can (gzip, bz2, xz, zstd): its read() loops
        # over steps, and a fault in a later one would lose the content the earlier ones gave.
        self._read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
        #: EOFError (a truncated file) and what the decompressor raises on damage.
        self.faults: tuple[type[Exception], ...] = (EOFError, *damage)
        #: Bytes of decompressed content read so far.
        self.offset = 0
        self._fault: CorruptInputError | None = None

    def read(self, size: int = -1, /) -> bytes:
        if self._fault is not None:
            raise self._fault
        want = size if size >= 0 else 1 << 62
        chunks: list[bytes] = []
        got = 0
        while got < want:
            try:
                data = self._read(min(self.STEP, want - got))
            except self.faults as exc:
                at = self.offset + got
                why = (
                    f"ends early: truncated after {at:,} bytes of content"
                    if isinstance(exc, EOFError)
                    else f"is corrupt after {at:,} bytes of content ({exc})"
                )
                self._fault = CorruptInputError(self.path, why, at)
                if not chunks:
                    raise self._fault from None
                break
            if not data:
                break
            chunks.append(data)
            got += len(data)
        self.offset += got
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def consumed(self) -> int:
        """Compressed bytes read so far (for progress: the file's size is in compressed bytes)."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):  # closed
            return 0

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


def open_stream(source: Source, stdin: BinaryIO | None) -> ByteStream:
    """The decompressed bytes of a source."""
    if source.stream is not None:
        return open(source.stream, "rb")
    if source.path is None:
        if stdin is None:
            raise InputError("<stdin>", "standard input is not available")
        return stdin
    raw = open(source.path, "rb")  # noqa: SIM115 - the caller closes it, or CheckedStream does
    return decompressed(raw, source.compression, source.path)


def magic_of(head: bytes) -> str | None:
    """The compression that the first bytes of a content show, if any."""
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def decompressed(raw: BinaryIO, compression: str | None, name: str) -> ByteStream:
    """The content of ``raw`` (a file, an object's body, a stream), decompressed by ``compression``."""
    if compression == "zstd":
        try:
            import zstandard  # optional: only for .zst logs
        except ImportError:
            raise InputError(
                name, "is compressed with zstd", "Install the zstandard package (pip install zstandard)."
            ) from None
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        return CheckedStream(reader, name, raw, (*_DAMAGE, zstandard.ZstdError))
    if compression == "gzip":
        return CheckedStream(gzip.GzipFile(fileobj=raw, mode="rb"), name, raw)
    if compression == "bz2":
        return CheckedStream(bz2.BZ2File(raw, "rb"), name, raw)
    if compression == "xz":
        return CheckedStream(lzma.LZMAFile(raw, "rb"), name, raw)
    return raw


def skip_bytes(stream: ByteStream, count: int) -> None:
    """Read past the first ``count`` bytes (a compressed file or stdin cannot seek)."""
    while count > 0:
        chunk = stream.read(min(count, 1 << 20))
        if not chunk:
            return
        count -= len(chunk)


def stream_blocks(stream: ByteStream, block_size: int, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` blocks of whole lines from a stream; the last one may lack its newline."""
    return whole_lines(iter(lambda: stream.read(block_size), b""), start)


def whole_lines(chunks: Iterable[bytes], start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` blocks of whole lines from chunks of a stream, a line longer than ``MAX_LINE`` cut;
    the last block may lack its newline. An empty chunk (nothing new yet, when following) gives an empty block."""
    offset = start
    carry = b""
    for chunk in chunks:
        if not chunk:
            yield offset, b""
            continue
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < MAX_LINE:
            carry = data
            continue
        if cut == 0:
            cut = len(data)
        yield offset, data[:cut]
        offset += cut
        carry = data[cut:]
    if carry:
        yield offset, carry


def byte_ranges(path: str, size: int, block_size: int, start: int = 0) -> Iterator[tuple[int, int]]:
    """``(start, end)`` ranges of whole lines of a plain file up to ``size``, ``block_size`` or a bit more."""
    with open(path, "rb") as f:
        while start < size:
            end = start + block_size
            if end >= size:
                yield start, size
                return
            f.seek(end)
            rest = f.readline(MAX_LINE)
            end = min(size, end + len(rest))
            yield start, end
            start = end


#: How many bytes of a source's start decide its format.
HEAD_LIMIT = 64 << 10


def lines_of(head: bytes, encoding: str, limit: int = HEAD_LIMIT) -> list[str]:
    """The lines of a source's first bytes; a head cut at ``limit`` loses its unfinished last line."""
    cut = head.rfind(b"\n")
    if cut >= 0 and len(head) >= limit:
        head = head[:cut]
    return head.decode(encoding, "backslashreplace").split("\n")


class LimitedStream:
    """A stream that ends after ``count`` bytes (a W3C file read up to its last complete line)."""

    def __init__(self, stream: ByteStream, count: int) -> None:
        self.stream, self.left = stream, max(0, count)

    def read(self, size: int = -1, /) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.stream.close()
