"""One listing of a pattern against the state: which listed objects are done, where the listing may start, and how
far the pattern's mark moves (see :mod:`import_logs.checkpoint.listing` for what a mark promises)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from import_logs.checkpoint.listing import MARGIN, MAX_PENDING, RELIST_EVERY, Mark, epoch, iso
from import_logs.checkpoint.state import Entry, StateFile, now_text


class Walk:
    """Told every object listed, in key order (:meth:`done`), then :meth:`finish` when the listing ended.

    ``matcher(pattern)`` gives the test of a key for the key pattern of a mark (marks of other patterns of the same
    bucket cover the objects they match too: a pattern changed between runs does not import folded objects again).
    """

    def __init__(
        self,
        state: StateFile,
        pattern: str,
        matcher: Callable[[str], Callable[[str], bool]],
        *,
        settle: float,
        force: bool = False,
        now: float | None = None,
    ) -> None:
        self.state, self.pattern, self.matcher, self.force = state, pattern, matcher, force
        self.now = time.time() if now is None else now
        self.mark = state.listings.get(pattern)
        mark = self.mark
        #: Listed from its start: the mark can move. Else from after the mark, its pending keys asked by name.
        self.whole = force or mark is None or not mark.after or self.now - epoch(mark.listed) >= RELIST_EVERY
        #: Objects modified up to this time may be folded.
        self.limit = self.now - settle - MARGIN
        self._open = not force
        self._after = ""
        #: The last key listed: a store that does not list in key order (S3's directory buckets) folds nothing.
        self._last = ""
        self._disordered = False
        self._pending: list[str] = []
        self._drop: list[Entry] = []
        self._covers: list[tuple[Mark, Callable[[str], bool]]] = []
        for other in state.listings.values():
            if other.after and other.bucket() == mark_bucket(pattern):
                self._covers.append((other, matcher(other.key_pattern())))

    @property
    def start_after(self) -> str | None:
        """The key to list from (exclusive), or None for the whole pattern."""
        return None if self.whole or self.mark is None else self.mark.after

    @property
    def pending(self) -> list[str]:
        """Keys below the mark to ask for by name (a listing from after the mark does not reach them)."""
        return [] if self.whole or self.mark is None else list(self.mark.pending)

    def done(self, key: str, identity: str, modified: float, *, recent: bool = False) -> bool:
        """Is this listed object done (not to be fetched)? Also walks the fold. ``recent``: imported through a
        queue (the state's record of recent objects, which keeps no entry), so done and covered."""
        entry = self.state.object_entry(identity)
        if self.force:
            return False
        if entry is not None and entry.done:
            self.state.update(entry, seen=now_text())
            self._see(key, modified, entry, covered=False)
            return True
        if recent:  # the mark may pass it once its time is below the limit, as for an entry done
            self._see(key, modified, None, covered=modified <= self.limit)
            return True
        covered = any(mark.covers(key, modified) and matches(key) for mark, matches in self._covers)
        self._see(key, modified, entry, covered=covered)
        return covered

    def _see(self, key: str, modified: float, entry: Entry | None, *, covered: bool) -> None:
        if key < self._last:
            self._disordered = True
        self._last = key
        if not self._open or not self.whole:
            return
        if covered:
            self._after = key
        elif modified > self.limit:
            self._open = False  # recent: neither it nor anything after it is folded yet
        elif entry is not None and entry.done:
            self._after = key
            self._drop.append(entry)
        elif entry is not None and len(self._pending) < MAX_PENDING:
            self._after = key  # read before and not to its end (damaged, of no known format, a run stopped in it)
            self._pending.append(key)
        else:
            self._open = False  # never read yet (this run reads it): folded by a later listing

    def finish(self) -> None:
        """The listing ended: move the mark (when it was listed whole), forgetting the entries it now covers."""
        if not self.whole or self.force or self._disordered:
            return
        old = self.mark or Mark(self.pattern)
        if old.after and self._after < old.after:
            # Stopped below the mark (an object there was uploaded again lately): the mark stays as it was (its
            # promise still holds), the newer object keeps its entry until it is folded by a later listing.
            self.state.fold(replace(old, listed=iso(self.now)), [])
            return
        mark = Mark(
            self.pattern,
            after=self._after,
            before=iso(max(self.limit, epoch(old.before))) if self._after else "",
            pending=self._pending,
            listed=iso(self.now),
            folded=old.folded + len(self._drop),
        )
        self.state.fold(mark, self._drop)


def mark_bucket(pattern: str) -> str:
    return Mark(pattern).bucket()
