"""A model of how a tracker rebuilds visits from the order it receives hits in (Matomo's, read in
matomo-org/matomo: ``core/Tracker/VisitorRecognizer.php``, ``core/Tracker/Model.php::findVisitor``,
``plugins/CoreHome/Tracker/VisitRequestProcessor.php``, ``plugins/CoreHome/Columns/VisitTotalTime.php`` and
``VisitLastActionTime.php``). For each hit, as it arrives:

* the visitor's visit is the one whose last action is within 30 minutes either side of the hit's time (the
  latest such one);
* none, a last action 30 minutes or more before the hit, or a last action on another day (the site's time
  zone; UTC here): a new visit, of length 0;
* else the hit joins it: its length becomes ``1 + hit time - first action`` (never below 0: a late hit from
  before the first action shortens the visit), its last action never moves back, its first never moves.

So the same hits in another order give other visits: a visitor's hit that arrives after later ones of theirs
shortens or splits the visit. Tests compare the visits of an import with those of the same hits in time order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

WINDOW = 30 * 60


@dataclass
class Visit:
    first: int
    last: int
    length: int = 0
    actions: int = 1


def rebuild(hits: Iterable[tuple[str, int]]) -> dict[str, list[Visit]]:
    """The visits of each visitor, from ``(visitor, unix time)`` pairs in the order the tracker received them."""
    visits: dict[str, list[Visit]] = {}
    for visitor, t in hits:
        theirs = visits.setdefault(visitor, [])
        near = [v for v in theirs if t - WINDOW <= v.last <= t + WINDOW]
        visit = max(near, key=lambda v: v.last, default=None)
        if visit is None or visit.last <= t - WINDOW or _day(visit.last) != _day(t):
            theirs.append(Visit(t, t))
            continue
        visit.length = max(0, 1 + t - visit.first)
        visit.last = max(visit.last, t)
        visit.actions += 1
    return visits


def totals(visits: dict[str, list[Visit]]) -> tuple[int, int]:
    """The number of visits and their total length in seconds."""
    every = [v for theirs in visits.values() for v in theirs]
    return len(every), sum(v.length for v in every)


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")
