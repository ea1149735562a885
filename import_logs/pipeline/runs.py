"""What one run knows of each of its sources, in one record from its planning to its end."""

from __future__ import annotations

from dataclasses import dataclass, field

from import_logs.checkpoint.resume import Resume
from import_logs.sources.kinds import Source


@dataclass
class SourceRun:
    """One source of this run. The planner makes it (where the source resumes), the merge keeps it up to date
    (lines merged, what they were), and it is dropped when the source ends (:class:`~import_logs.sources.marks.Ended`:
    the one way a source ends)."""

    source: Source
    resume: Resume = field(default_factory=Resume)
    #: Lines before the next block to merge.
    line_base: int = 0
    #: Hits passed on to the lanes (``--debug-request-limit`` counts them per source).
    hits: int = 0
    #: A line the format could read was seen; the lines it could not read (empty ones left out).
    readable: bool = False
    bad: int = 0
    #: Cut short while it was read (copytruncate): nothing of it from there on counts.
    cut: bool = False
    #: Cannot be read whole (damaged, removed, no valid line): never marked done.
    incomplete: bool = False
    #: Found compressed by its content once opened (an object), and its compressed bytes read so far.
    compressed: bool = False
    compressed_read: int = 0
