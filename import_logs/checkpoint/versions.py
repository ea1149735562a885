"""An object replaced under its key by a new version, while a run had read only part of the old one (a truncated
upload, a compressed log copied before it was whole): the new version reads on after what was read when it starts
with the same bytes, and from its start otherwise, which the import says.

The state keeps, in the entry of an object not read whole, the SHA-256 and the length of the content read of it
(decompressed, up to the fault); a new version of the same key is compared over that length.
"""

from __future__ import annotations

import hashlib

from import_logs.checkpoint.state import Entry, StateFile
from import_logs.errors import CorruptInputError
from import_logs.sources.compressed import ByteStream
from import_logs.sources.heads import open_body
from import_logs.sources.objects import ObjectRef, ObjectStream


class Hashing:
    """A stream that hashes what is read of it."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data

    def close(self) -> None:
        self.stream.close()

    def keep(self, state: StateFile, entry: Entry) -> None:
        """Write in the entry what was read of the content."""
        state.update(entry, prefix=self.digest.hexdigest(), prefix_len=self.count)


def starts_with(name: str, body: bytes | ObjectStream, length: int, digest: str) -> bool:
    """Do the first ``length`` bytes of this content (decompressed) have this SHA-256? A large object is fetched
    again from its start for it (its body being read is left where it is)."""
    stream, _ = open_body(name, body if isinstance(body, bytes) else body.again())
    hashing = Hashing(stream)
    try:
        while hashing.count < length:
            if not hashing.read(min(1 << 20, length - hashing.count)):
                break
    except CorruptInputError:
        pass  # shorter than what was read before: not the same start
    finally:
        hashing.close()
    return hashing.count == length and hashing.digest.hexdigest() == digest


def carry_over(state: StateFile, entry: Entry, ref: ObjectRef, body: bytes | ObjectStream) -> str | None:
    """A new object ``entry``: when a version of the same key was read in part, resume where it stood if this one
    starts with the bytes read of it (and forget it). What to say of it, if anything."""
    earlier = [e for e in state.entries if e.object and e.path == ref.url and e is not entry and not e.done]
    earlier = [e for e in earlier if e.offset or e.acked]
    if not earlier:
        return None
    old = max(earlier, key=lambda e: (e.seen, e.offset))
    if old.prefix and old.prefix_len >= old.offset and starts_with(ref.url, body, old.prefix_len, old.prefix):
        state.update(entry, offset=old.offset, line=old.line, acked=list(old.acked))
        state.forget(earlier)
        return (
            f"{ref.url}: a new version of an object read in part before, with the same first "
            f"{old.prefix_len:,} bytes: read on from line {old.line + 1}"
        )
    state.forget(earlier)
    return (
        f"{ref.url}: replaced by a new version that does not start with the {old.line:,} lines read of the previous "
        "one: read from its start (lines that are in both are sent again)"
    )
