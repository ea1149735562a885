"""Which lines are done, so that the state never runs ahead of the server.

Every merged block is recorded with the lines of its hits, all outstanding. A lane reports each accepted
batch; a block is done when none of its hits is outstanding. For each source the checkpoint is the start of
its first block that is not done, plus the lines after it already accepted (sent again they would be twice).
Invalid and filtered lines count as done.

Each accepted batch is journaled before its lane sends another (see :mod:`import_logs.checkpoint.state`), and a snapshot
is written at most once a second, so after a kill -9 only the batches that were being sent may be sent again:
at most one per lane. That bound, plus what the previous run left in flight if it did not end clean (this run
may stop before it sends those again), is journaled before anything is sent: the next run reports it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from import_logs.checkpoint.state import Entry, StateFile, now_text

SNAPSHOT_EVERY = 1.0
#: ... or less often, so that snapshots of a big state (a bucket's thousands of objects) take at most 5 % of
#: the time; the journal keeps what was accepted in between.
SNAPSHOT_SHARE = 0.05


@dataclass
class _Block:
    start: int
    end: int
    #: Lines before this block (its first line is ``first_line + 1``).
    first_line: int
    lines: int
    outstanding: set[int]
    accepted: list[int] = field(default_factory=list)


class Ledger:
    def __init__(self, state: StateFile, *, in_flight_bound: int) -> None:
        self.state = state
        #: At most this many hits can be accepted without the journal knowing (one batch per lane).
        self.in_flight_bound = in_flight_bound
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}
        self._blocks: dict[int, deque[_Block]] = {}
        self._finished: set[int] = set()
        #: Per source: the lines accepted beyond its checkpoint by earlier runs.
        self._prior: dict[int, frozenset[int]] = {}
        self._closed = False
        self._snapshot_at = 0.0
        #: Seconds between two snapshots: SNAPSHOT_EVERY, or longer when a snapshot takes long.
        self._snapshot_every = SNAPSHOT_EVERY
        state.record_in_flight(in_flight_bound)

    def track(self, source: int, entry: Entry) -> None:
        """A source starts: the journal must be able to name it by its fingerprint. A new entry (an object's, or a
        file's never saved) is journaled, and one the last snapshot holds as it is needs nothing; one that changed
        (a new fingerprint, read again from its start) is saved now: each file starting must not rewrite the whole
        state (a run of 512 files wrote 513 snapshots, 45 MB).

        The lines a previous run had accepted beyond the checkpoint stay in every snapshot until the checkpoint
        passes them: the journal that listed them is emptied by the snapshot, and a crash now must not forget
        them (the next run would send them twice).
        """
        with self._lock:
            self._entries[source] = entry
            self._blocks[source] = deque()
            self._prior[source] = frozenset(entry.acked)
            saved = self.state.saved_as(entry)
            if entry.object or saved == "new":
                self.state.record_entry(entry)
            elif saved == "changed":
                self._snapshot()

    def refingerprint(self, source: int, head: bytes) -> None:
        """A followed file that was shorter than a fingerprint has grown: fingerprint it on more bytes from now
        on, and snapshot at once, since the journal names the entry by its fingerprint."""
        with self._lock:
            if self.state.grow(self._entries[source], head):
                self._snapshot()

    def tracks(self, source: int) -> bool:
        return source in self._entries

    def add_block(
        self, source: int, start: int, end: int, first_line: int, lines: int, hits: list[int], acked: list[int]
    ) -> None:
        """A merged block: ``hits`` are the lines now on their way, ``acked`` those a previous run sent."""
        with self._lock:
            self._blocks[source].append(_Block(start, end, first_line, lines, set(hits), list(acked)))
            self._advance(source)

    def finish_source(self, source: int) -> None:
        """Every block of the source was merged."""
        with self._lock:
            self._finished.add(source)
            self._advance(source)

    def rewind(self, source: int, offset: int, line: int) -> None:
        """Put a source back where its run started (none of its lines was valid: it must not look done)."""
        with self._lock:
            entry = self._entries[source]
            self._blocks[source].clear()
            self._finished.discard(source)
            self.state.update(entry, offset=offset, line=line, done=False)

    def accept(self, refs: list[tuple[int, int]]) -> None:
        """A batch was accepted: its hits are done. Journaled before the lane sends anything else."""
        with self._lock:
            if self._closed:  # a lane that ended after the run gave up on it: the state is no longer ours
                return
            journal: dict[str, list[int]] = {}
            for source, line in refs:
                blocks = self._blocks.get(source)
                if not blocks:
                    continue
                for block in blocks:
                    if block.first_line < line <= block.first_line + block.lines:
                        if line in block.outstanding:
                            block.outstanding.discard(line)
                            block.accepted.append(line)
                            journal.setdefault(self._entries[source].fingerprint, []).append(line)
                        break
            self.state.record(journal)
            for source in {source for source, _ in refs if source in self._entries}:
                self._advance(source)
            if time.monotonic() - self._snapshot_at >= self._snapshot_every:
                self._snapshot()

    def save(self, *, clean: bool) -> None:
        """The last snapshot of a run."""
        with self._lock:
            self._snapshot(clean=clean)

    def snapshot(self) -> bool:
        """A snapshot now (queue mode: before a message is deleted, the state must hold its object as done); False
        when the run is over and it is no longer this run's to write."""
        with self._lock:
            if self._closed:
                return False
            self._snapshot()
            return True

    def close(self) -> None:
        """No more writes: the run is over (a late lane must not write the file another run may hold)."""
        with self._lock:
            self._closed = True

    def _snapshot(self, clean: bool = False) -> None:
        started = time.monotonic()
        for source, entry in self._entries.items():
            accepted = {line for block in self._blocks[source] for line in block.accepted}
            accepted.update(line for line in self._prior[source] if line > entry.line)
            self.state.update(entry, acked=sorted(accepted))
        self.state.save(clean=clean, in_flight=0 if clean else self.in_flight_bound)
        now = time.monotonic()
        self._snapshot_every = max(SNAPSHOT_EVERY, (now - started) / SNAPSHOT_SHARE)
        self._snapshot_at = now

    def _advance(self, source: int) -> None:
        entry = self._entries[source]
        blocks = self._blocks[source]
        offset, line = entry.offset, entry.line
        while blocks and not blocks[0].outstanding:
            done = blocks.popleft()
            offset, line = done.end, done.first_line + done.lines
        finished = (entry.compressed or entry.object) and source in self._finished and not blocks
        self.state.update(entry, offset=offset, line=line, done=finished, seen=now_text())
        if entry.done and entry.object:  # nothing of it can come back: a bucket's objects do not pile up here
            del self._entries[source], self._blocks[source], self._prior[source]
            self._finished.discard(source)
