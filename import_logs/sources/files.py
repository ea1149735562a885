"""Where lines come from: files, shell globs, ``-`` (standard input), compressed or not, each a source of its
kind (:mod:`~import_logs.sources.kinds`).

A source is cut into blocks of whole lines. A plain file is cut into byte ranges that the workers read
themselves; a compressed file or standard input is read here and its blocks carry their bytes.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from import_logs.errors import InputError
from import_logs.sources.compressed import ByteStream, magic_of
from import_logs.sources.kinds import FileSource, Source, StreamSource
from import_logs.sources.rotation import COMPRESSED_SUFFIXES, oldest_first

STDIN = "-"
#: What ``_check`` says of a file that is not a regular file.
STREAM = "stream"
#: A line longer than this is cut, so that one missing newline cannot exhaust memory.
MAX_LINE = 16 << 20


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
                sources.append(StreamSource(len(sources), "<stdin>"))
                continue
            compression = _check(path)
            if compression == STREAM:
                sources.append(StreamSource(len(sources), path, path))
                continue
            size = os.path.getsize(path)
            sources.append(FileSource(len(sources), path, path, compression, size))
    return sources


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
