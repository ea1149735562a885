"""A source's first lines as detection sees them, the shape of its line ends, and what a stream is made of.

* A line longer than ``HEAD_LIMIT`` at the start of a source (a huge URL, a preamble) is passed over and counted,
  so that detection and the check of a named format decide on the lines after it; the workers still read it and
  count it as they count such a line anywhere else. A W3C directive (``#Fields:`` of thousands of fields) is a
  header, not a hit: it is kept whole, up to ``MAX_LINE``.
* A source with no ``\\n`` but a ``\\r`` in its first ``HEAD_LIMIT`` bytes ends its lines with CR alone (classic
  Mac OS, some appliances): it is read through :class:`CrLines`, which turns each lone ``\\r`` into ``\\n``. The
  length is unchanged, so offsets, the state and the workers' line cutting stay as they are for other files,
  whose reading does not change at all.
* A stream (standard input, a FIFO) is recognised by its first bytes, as a file is: a piped ``.gz`` is
  decompressed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from import_logs.errors import CorruptInputError
from import_logs.sources.compressed import ByteStream, decompressed, magic_of
from import_logs.sources.files import HEAD_LIMIT, MAX_LINE
from import_logs.sources.kinds import Source

_LONE_CR = re.compile(rb"\r(?!\n)")
_STEP = 64 << 10


@dataclass
class Head:
    """The first lines of a source (at most about ``HEAD_LIMIT`` bytes of them, overlong ones left out)."""

    lines: list[str] = field(default_factory=list)
    #: Lines longer than ``HEAD_LIMIT`` passed over before the sample was complete.
    overlong: int = 0
    #: The lines end with ``\r`` alone.
    cr: bool = False


def cr_only(head: bytes) -> bool:
    """Lines ended by ``\\r`` alone: a ``\\r`` in the first bytes, and no ``\\n``."""
    return b"\n" not in head and b"\r" in head


def sample(stream: ByteStream, encoding: str, limit: int = HEAD_LIMIT, *, cr: bool | None = None) -> Head:
    """The first lines of ``stream`` for detection: complete lines up to ``limit`` bytes in all, a line longer
    than ``limit`` passed over; ``#`` directives kept besides, each up to ``MAX_LINE``. Reads at most
    ``limit + MAX_LINE`` bytes. A fault of a damaged compressed source ends the sample (the import names it when
    it gets there).
    ``cr``: the line ends are known (a stream already translated), else decided from the first ``limit`` bytes."""
    first = _read(stream, limit)
    if cr is None:
        cr = cr_only(first)
    source: ByteStream = Prefixed(first, stream)
    if cr:
        source = CrLines(source)
    lines: list[bytes] = []
    kept = overlong = scanned = 0
    buf = bytearray()
    skipping = eof = False
    while True:
        nl = buf.find(b"\n")
        if nl >= 0:
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            if skipping:
                skipping = False
                continue
            if len(line) > limit and not line.startswith(b"#"):
                overlong += 1
                continue
            if not line.startswith(b"#"):  # W3C directives do not take the data lines' room
                if kept + len(line) + 1 > limit:
                    break
                kept += len(line) + 1
            lines.append(line)
            continue
        if eof or scanned >= limit + MAX_LINE:
            if buf and not skipping and len(buf) <= limit and eof:
                lines.append(bytes(buf))  # the last line of a short source, without its newline
            elif buf or skipping:
                overlong += 1
            break
        if (len(buf) > limit and not buf.startswith(b"#")) or len(buf) > MAX_LINE:
            if not skipping:
                overlong += 1
            skipping = True
            buf.clear()
        chunk = _read(source, _STEP)
        eof = not chunk
        scanned += len(chunk)
        buf += chunk
    return Head([line.decode(encoding, "backslashreplace") for line in lines], overlong, cr)


def file_head(source: Source, encoding: str, limit: int = HEAD_LIMIT) -> Head:
    """:func:`sample` of a file from its start (decompressed)."""
    return head_of(source.open(), encoding, limit)


def head_of(stream: ByteStream, encoding: str, limit: int = HEAD_LIMIT) -> Head:
    """:func:`sample` of a stream opened for it, then closed."""
    try:
        return sample(stream, encoding, limit)
    finally:
        stream.close()


def head_lines(source: Source, stdin_head: bytes | None, *, encoding: str = "utf-8") -> list[str]:
    """The first lines of a source: of a file, from its start; of a stream, of its first block (``stdin_head``)."""
    if not source.reopens:
        return sample(io.BytesIO(stdin_head or b""), encoding).lines
    return file_head(source, encoding).lines


def stream_head(ahead: list[tuple[int, bytes]], blocks: Iterator[tuple[int, bytes]] | None, encoding: str) -> Head:
    """The first lines of a stream, from its first blocks (whole lines): more blocks are taken (into ``ahead``)
    while it has only lines too long to detect its format from."""
    data = b"".join(block for _, block in ahead)
    head = sample(io.BytesIO(data), encoding, cr=False)
    while blocks is not None and head.overlong and all(line.startswith("#") for line in head.lines if line.strip()):
        more = next(blocks, None)
        if more is None or len(data) > HEAD_LIMIT + MAX_LINE:
            if more is not None:
                ahead.append(more)
            break
        ahead.append(more)
        data += more[1]
        head = sample(io.BytesIO(data), encoding, cr=False)
    return head


def _read(stream: ByteStream, size: int) -> bytes:
    """Up to ``size`` bytes (fewer only at the end); a damaged compressed stream ends here."""
    chunks: list[bytes] = []
    got = 0
    while got < size:
        try:
            data = stream.read(size - got)
        except CorruptInputError:
            break
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


class Prefixed:
    """Bytes already read from a stream, then the rest of it."""

    def __init__(self, head: bytes, stream: ByteStream) -> None:
        self.head, self.stream = head, stream
        self.position = 0

    def read(self, size: int = -1, /) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.stream.read(), b""
            else:
                data, self.head = self.head[:size], self.head[size:]
        else:
            data = self.stream.read(size)
        self.position += len(data)
        return data

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self.stream.close()


class CrLines:
    """A stream whose lone ``\\r`` (not followed by ``\\n``) are ``\\n``: the same length, so the same offsets."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._held = b""  # the byte after a trailing \r, read to decide what the \r is

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""
        held, self._held = self._held, b""
        want = size - len(held) if size > 0 else -1
        data = held + (self.stream.read(want) if want != 0 else b"")
        if data.endswith(b"\r"):
            self._held = self.stream.read(1)
            if self._held == b"\n":
                return _LONE_CR.sub(b"\n", data[:-1]) + b"\r"
        return _LONE_CR.sub(b"\n", data)

    def close(self) -> None:
        self.stream.close()


def inner(stream: ByteStream) -> ByteStream:
    """The stream under the wrappers of this module (for the progress of a
    :class:`~import_logs.sources.compressed.CheckedStream`)."""
    while isinstance(stream, (Prefixed, CrLines)):
        stream = stream.stream
    return stream


def sniff(stream: ByteStream, name: str) -> tuple[ByteStream, str | None]:
    """A stream decompressed by its first bytes, as a file is; and its compression."""
    head = _read(stream, 6)
    compression = magic_of(head)
    raw: Any = Prefixed(head, stream)
    return decompressed(raw, compression, name), compression


def open_body(name: str, body: bytes | io.RawIOBase) -> tuple[ByteStream, str | None]:
    """An object's body (fetched whole, or a stream), decompressed by its content; and its compression."""
    return sniff(io.BytesIO(body) if isinstance(body, bytes) else io.BufferedReader(body, 1 << 20), name)


def line_ends(stream: ByteStream) -> tuple[ByteStream, bool]:
    """The stream with its lone ``\\r`` made ``\\n`` when its first ``HEAD_LIMIT`` bytes have no ``\\n`` but a
    ``\\r``; and whether they do. Reads until the first ``\\n`` (or ``HEAD_LIMIT`` bytes, or the end)."""
    chunks: list[bytes] = []
    got = 0
    while got < HEAD_LIMIT:
        try:
            data = stream.read(min(4096, HEAD_LIMIT - got))
        except CorruptInputError:
            if not chunks:
                raise
            break  # a CheckedStream raises its fault again at the next read, after these bytes
        if not data:
            break
        chunks.append(data)
        got += len(data)
        if b"\n" in data:
            break
    head = b"".join(chunks)
    rest: ByteStream = Prefixed(head, stream)
    if cr_only(head):
        return CrLines(rest), True
    return rest, False
