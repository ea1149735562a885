"""The merge step's decision for one block, as a pure function: which of its hits go on to be sent.

Blocks come back from the workers in file order. Of a block's kept hits, the merge drops those a previous run
already sent (the state's accepted lines beyond the checkpoint), those ``--skip`` covers, and those beyond
``--debug-request-limit``; everything else goes on, numbered by its line in the file. The importer applies the
outcome to the counters, the ledger and the lanes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from import_logs.hits import Hits
from import_logs.pipeline.worker import BlockResult


@dataclass
class Merged:
    """What goes on of one block's hits."""

    #: Numbered by their line in the file (1-based), with their source.
    hits: Hits
    #: Lines a previous run had sent: read again only to find the rest.
    done_before: list[int] = field(default_factory=list)
    #: Hits dropped because --skip covers their line.
    skipped_by_option: int = 0
    #: Hits dropped beyond --debug-request-limit.
    over_limit: int = 0


def merge_block(
    r: BlockResult, base: int, *, acked: Collection[int] = (), skip: int = 0, room: int | None = None
) -> Merged:
    """The hits of ``r`` that go on. ``base`` is the number of lines of the file before the block, ``acked``
    the line numbers a previous run had sent, ``skip`` the --skip count, ``room`` how many more hits the
    request limit lets through (None: no limit)."""
    merged = Merged(r.hits.placed(r.source, base))
    numbers = merged.hits.lines
    if numbers and (acked or skip > base):  # a previous run sent some of these, or --skip covers them
        keep = []
        for k, number in enumerate(numbers):
            if number in acked:
                merged.done_before.append(number)
            elif number <= skip:
                merged.skipped_by_option += 1
            else:
                keep.append(k)
        if len(keep) < len(numbers):
            merged.hits = merged.hits.select(keep)
    if room is not None and len(merged.hits) > room:
        merged.over_limit = len(merged.hits) - room
        merged.hits = merged.hits.head(room)
    return merged
