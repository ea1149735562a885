"""The kept hits of a block on their way to the server: one record type from the worker to the batch.

A block's hits travel as parallel columns, one list per field (cheap to pickle back from a worker, cheap to append
to on the hot path), held together by :class:`Hits`: the worker fills them, the merge numbers them in their file
and keeps some (``select``, ``head``), the site map writes each hit's site in, the lanes deal them out to their
batches (``select``, ``extend``, ``cut``), and a :class:`~import_logs.backends.Batch` carries them to the sender.
A per-hit field is added here, in :data:`COLUMNS` and ``__slots__``; the stages carry it without naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

#: The columns, in the order of ``__slots__``.
COLUMNS = ("lines", "items", "visitors", "keys", "times", "sources")


class Hits:
    """Parallel columns of hits. A column may be empty while the others are not: it is not carried at that stage
    (``keys`` only when each hit's site is resolved in the main process; ``sources`` from the merge on)."""

    __slots__ = COLUMNS

    def __init__(
        self,
        lines: list[int] | None = None,
        items: list[str] | None = None,
        visitors: list[str] | None = None,
        keys: list[str] | None = None,
        times: list[float] | None = None,
        sources: list[int] | None = None,
    ) -> None:
        #: The hit's 1-based line number: in its block (a worker's result), in its file once merged.
        self.lines: list[int] = [] if lines is None else lines
        #: The encoded request (JSON text, or a query string for Matomo).
        self.items: list[str] = [] if items is None else items
        #: What keeps a visitor's hits in order: the client address (replaying: the logged visitor id).
        self.visitors: list[str] = [] if visitors is None else visitors
        #: The hit's host (replaying: its logged idsite), when sites are resolved per hit; else empty.
        self.keys: list[str] = [] if keys is None else keys
        #: The hit's time, in seconds since the epoch (from its aware datetime).
        self.times: list[float] = [] if times is None else times
        #: The index of the hit's source among the run's (set by the merge: a block is of one source).
        self.sources: list[int] = [] if sources is None else sources

    def _columns(self) -> list[list[Any]]:
        return [getattr(self, name) for name in COLUMNS]

    def __len__(self) -> int:
        return len(self.items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hits) and self._columns() == other._columns()

    def __repr__(self) -> str:
        return "Hits(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in COLUMNS) + ")"

    def __getstate__(self) -> tuple[list[Any], ...]:
        return tuple(self._columns())

    def __setstate__(self, state: tuple[list[Any], ...]) -> None:
        for name, column in zip(COLUMNS, state, strict=True):
            setattr(self, name, column)

    def select(self, indexes: Sequence[int]) -> Hits:
        """The hits at these positions (in this order), in new lists; empty columns stay empty."""
        if not indexes:
            return Hits()
        if len(indexes) == 1:
            k = indexes[0]
            return Hits(*([column[k]] if column else [] for column in self._columns()))
        pick = itemgetter(*indexes)
        return Hits(*(list(pick(column)) if column else [] for column in self._columns()))

    def head(self, n: int) -> Hits:
        """The first ``n`` hits, in new lists."""
        return Hits(*(column[:n] for column in self._columns()))

    def cut(self, n: int) -> Hits:
        """The first ``n`` hits, taken out of these."""
        taken = self.head(n)
        for column in self._columns():
            del column[:n]
        return taken

    def extend(self, other: Hits) -> None:
        """Append ``other``'s hits. A column one side carries and the other does not ends up unaligned: the
        hits a stage puts together carry the same columns."""
        for mine, theirs in zip(self._columns(), other._columns(), strict=True):
            mine.extend(theirs)

    def copy(self) -> Hits:
        """The same hits, in new lists."""
        return Hits(*(column.copy() for column in self._columns()))

    def placed(self, source: int, base: int) -> Hits:
        """These hits of one block, placed in their file (in new lists): each numbered by its line in the file
        (``base`` lines come before the block), with its source."""
        placed = self.copy()
        placed.lines = [base + n for n in self.lines]
        placed.sources = [source] * len(self.lines)
        return placed
