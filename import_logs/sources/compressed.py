"""Compressed content: what its first bytes say it is compressed with, and its bytes decompressed, a damaged or
truncated one stopping with an error that names it and the offset of the fault (what came before goes on)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

from import_logs.errors import CorruptInputError, InputError

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


class ByteStream(Protocol):
    """What a source is read through: a file, a decompressor, or standard input."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


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
