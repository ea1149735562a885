"""Marks between the jobs of a run's sources, for the merge: nothing more for now, a source ended."""

from __future__ import annotations


class Control:
    """A mark between the jobs (``--follow``): every result before it is yielded before it is."""

    __slots__ = ()


class Tick(Control):
    """Nothing more to read for now: the merge catches up, and partial batches may go out."""

    __slots__ = ()


class Ended(Control):
    """A followed source will have no more blocks (rotated away and read to its end)."""

    __slots__ = ("source",)

    def __init__(self, source: int) -> None:
        self.source = source


TICK = Tick()
