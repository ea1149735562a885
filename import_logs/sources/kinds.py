"""What a source is: a local file (plain or compressed), a stream, or an object of a store.

Every kind answers the few questions the run asks of a source, so that planning, following, ordering and
resuming ask the question instead of testing which kind it is:

* :meth:`Source.open`: its content from its start (a file's decompressed; a stream's bytes as they come);
* :attr:`Source.done`: what "done" means for it (:class:`Done`), so whether it has a place in the state;
* :attr:`Source.ranges`: whether it is cut into byte ranges that the workers read themselves (a plain file);
* :attr:`Source.reopens`: whether its first bytes can be read again without taking them from the import;
* :attr:`Source.stdin`, :attr:`Source.compressed`, :attr:`Source.stored`, :attr:`Source.log`:
  the rest of what the planner, the follower and the time order need to know.

Where the kinds are planned genuinely differently (a file's place in the state is its path and content, an
object's its identity), the planner dispatches on the kind in one place; only files are followed.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from import_logs.errors import InputError
from import_logs.sources.compressed import ByteStream, decompressed
from import_logs.sources.objects import ObjectRef
from import_logs.sources.rotation import is_live, rotation


class Done(enum.Enum):
    """What "done" means for a source (the ledger marks an entry done; see :mod:`import_logs.checkpoint.ledger`)."""

    #: A stream: read once, to its end. It has no place in the state, so nothing of it is resumed or passed over.
    AT_ITS_END = "at its end"
    #: A plain file: never done, it may grow; its checkpoint (a byte offset and a line) says how far it is read.
    NEVER = "never"
    #: A compressed file or an object: done once read whole and every line of it acked; its checkpoint is where
    #: it is resumed, by reading up to it again (a compressed content cannot be seeked).
    READ_WHOLE = "read whole"


class Source(ABC):
    """One input of a run. Its kinds are frozen dataclasses with ``index`` (its number in the run), ``name`` (as
    the user wrote it, or an object's URL: what messages and the summary say) and ``size`` (bytes as stored,
    compressed bytes for a compressed file; None when unknown)."""

    index: int
    name: str
    size: int | None

    @abstractmethod
    def open(self, stdin: BinaryIO | None = None) -> ByteStream:
        """Its content from its start: a file's decompressed; a stream's bytes as they come (its compression is
        found from its first bytes, :func:`~import_logs.sources.heads.sniff`). The caller closes it, except
        standard input (:attr:`stdin`)."""

    @property
    @abstractmethod
    def done(self) -> Done:
        """What "done" means for it."""

    @property
    def in_state(self) -> bool:
        """Whether it has a place in the state: resumed where a run left it, passed over once done."""
        return self.done is not Done.AT_ITS_END

    @property
    def ranges(self) -> bool:
        """Whether it is cut into byte ranges that the workers read themselves (else it is read by the planner and
        its blocks carry their bytes)."""
        return False

    @property
    def reopens(self) -> bool:
        """Whether its first bytes can be read again (:meth:`open` once more) without taking them from the import:
        its head is read before it is planned, and a resumed W3C file finds the ``#Fields:`` before its place."""
        return False

    @property
    def compressed(self) -> bool:
        """Known to be compressed before it is read (its size then counts compressed bytes). A stream's or an
        object's compression is found as it is read (the run's record keeps it)."""
        return False

    @property
    def stdin(self) -> bool:
        """Standard input: not the run's to close, and nothing can be read after it when it is followed."""
        return False

    @property
    def stored(self) -> bool:
        """An object of a store: its content never changes under its identity (a new version is another object),
        so it is done once looked at whole even when it has no line, and damage is the stored object's."""
        return False

    @property
    def log(self) -> str:
        """The log it belongs to: the rotated copies of one log and its live file are read one after the other;
        sources of different logs side by side."""
        return f"<{self.index}>"


@dataclass(frozen=True)
class FileSource(Source):
    """A regular file, plain or compressed (``compression``, from its first bytes). The state knows it by its
    content's fingerprint and its path."""

    index: int
    name: str
    path: str
    compression: str | None
    size: int | None

    def open(self, stdin: BinaryIO | None = None) -> ByteStream:
        raw = open(self.path, "rb")  # noqa: SIM115 - the caller closes it, or CheckedStream does
        return decompressed(raw, self.compression, self.path)

    @property
    def done(self) -> Done:
        return Done.READ_WHOLE if self.compression else Done.NEVER

    @property
    def ranges(self) -> bool:
        return not self.compression

    @property
    def reopens(self) -> bool:
        return True

    @property
    def compressed(self) -> bool:
        return bool(self.compression)

    @property
    def live(self) -> bool:
        """A log being written under its live name (a plain file, no rotation suffix): ``--follow`` follows it."""
        return not self.compression and is_live(self.path)

    @property
    def log(self) -> str:
        return rotation(self.name)[0]


@dataclass(frozen=True)
class StreamSource(Source):
    """Standard input (``path`` None), or a named file that is not a regular file (a FIFO, ``/dev/stdin``,
    ``<(zcat ...)``): opened once, read from its start to its end, with no place in the state."""

    index: int
    name: str
    path: str | None = None
    size: int | None = None

    def open(self, stdin: BinaryIO | None = None) -> ByteStream:
        if self.path is not None:
            return open(self.path, "rb")
        if stdin is None:
            raise InputError("<stdin>", "standard input is not available")
        return stdin

    @property
    def done(self) -> Done:
        return Done.AT_ITS_END

    @property
    def stdin(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class ObjectSource(Source):
    """An object of a store (``name`` is its URL), known in the state by its identity (key, version, size). Its
    body is fetched ahead by the planner (:mod:`import_logs.pipeline.plan_objects`), not opened here. An object
    announced by a queue is one of these with its message beside it (the message is deleted once it is done)."""

    index: int
    name: str
    ref: ObjectRef
    size: int | None

    def open(self, stdin: BinaryIO | None = None) -> ByteStream:
        raise TypeError(f"{self.name}: an object's body is fetched by its planner, not opened")

    @property
    def done(self) -> Done:
        return Done.READ_WHOLE

    @property
    def stored(self) -> bool:
        return True


def file_paths(sources: Sequence[Source]) -> set[str]:
    """The paths of the regular files among ``sources``."""
    return {s.path for s in sources if isinstance(s, FileSource)}
