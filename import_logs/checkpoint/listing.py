"""The compact form of a listed bucket in the state: a mark per pattern instead of an entry per object.

A bucket that receives logs for a year holds 100,000 objects and more; an entry per object (about 250 bytes)
made a state of 25 MB, rewritten at every snapshot, and each run listed every object. Keys of logs sort by
time (CloudFront, ALB, Logpush, and most shippers name them so), so the objects done long ago form a prefix of
the listing: the state keeps, per pattern, a :class:`Mark` (a key ``after`` and a time ``before``) that says

    every object that matches the pattern, with a key <= ``after`` and modified at or before ``before``,
    was imported (done and acked), except the keys in ``pending``,

and full entries only for the objects above it or more recent than ``before``. An object is folded into the
mark when it has been done for a while (it was last modified ``--objects-settle`` ago, one day by default) and
every object before it in key order is folded too; an object that is not done (damaged, of no known format)
does not stop the fold: its key is kept in ``pending`` and tried again by name.

Runs list the pattern from after the mark (S3's ``start-after``), so a year of history is not listed by every
cron run; once a day the whole pattern is listed again, which is when the mark moves, and which finds what a
listing from the mark cannot see: an object uploaded late under a key below the mark, or an old key uploaded
again (its modification time is after ``before``: it is imported as new content, as a new version of a key
above the mark is at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: The whole pattern is listed again (and its mark moved) when its last whole listing is older than this.
RELIST_EVERY = 86400.0
#: Keys below a mark that are not done, kept by name; more stop the fold there.
MAX_PENDING = 100
#: Seconds taken off ``before`` beyond the settling time: stores give modification times to the second.
MARGIN = 2.0


@dataclass
class Mark:
    #: The input as given: ``s3://bucket/prefix/*.gz``.
    pattern: str
    #: The greatest key folded ("" when none is yet).
    after: str = ""
    #: Objects modified after this time (ISO 8601, UTC) are not covered, whatever their key.
    before: str = ""
    #: Keys <= ``after`` whose objects are not done: read again, by name, by every run.
    pending: list[str] = field(default_factory=list)
    #: When the pattern was last listed whole.
    listed: str = ""
    #: Objects folded into the mark, in all (for --show-state).
    folded: int = 0

    def covers(self, key: str, modified: float) -> bool:
        """Is the object of this key (it matches the pattern), modified at this time, done by the mark?"""
        return bool(self.after) and key <= self.after and modified <= epoch(self.before) and key not in self.pending

    def bucket(self) -> str:
        """``s3://bucket`` of the pattern."""
        scheme, _, rest = self.pattern.partition("://")
        return f"{scheme}://{rest.partition('/')[0]}"

    def key_pattern(self) -> str:
        return self.pattern.partition("://")[2].partition("/")[2]


def epoch(text: str) -> float:
    """Seconds since 1970 of an ISO 8601 time ("" is the earliest)."""
    if not text:
        return float("-inf")
    return datetime.fromisoformat(text).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), timezone.utc).isoformat()


def mark_from(fields: dict[str, Any]) -> Mark:
    """A mark from its checked fields (those of a newer import-logs left out)."""
    return Mark(**{k: v for k, v in fields.items() if k in Mark.__dataclass_fields__})
