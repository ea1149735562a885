"""Which lines are done, so that the state never runs ahead of the server.

Every merged block is recorded with the lines of its hits, all outstanding. A lane reports each accepted
batch; a block is done when none of its hits is outstanding. For each source the checkpoint is the start of
its first block that is not done, plus the lines after it already accepted (sent again they would be twice).
Invalid and filtered lines count as done. The state is rewritten after every accepted batch (fsynced at most
once a second), so after a kill -9 only the batches that were being sent may be sent again.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from import_logs.state import Entry, StateFile, now_text


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
        self.in_flight_bound = in_flight_bound
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}
        self._blocks: dict[int, deque[_Block]] = {}
        self._finished: set[int] = set()
        self._outstanding = 0
        self._closed = False

    def track(self, source: int, entry: Entry) -> None:
        with self._lock:
            self._entries[source] = entry
            self._blocks[source] = deque()

    def tracks(self, source: int) -> bool:
        return source in self._entries

    def add_block(
        self, source: int, start: int, end: int, first_line: int, lines: int, hits: list[int], acked: list[int]
    ) -> None:
        """A merged block: ``hits`` are the lines now on their way, ``acked`` those a previous run sent."""
        with self._lock:
            self._blocks[source].append(_Block(start, end, first_line, lines, set(hits), list(acked)))
            self._outstanding += len(hits)
            self._advance(source)
            if hits and not self._closed:
                # Before they can be sent: a run killed from now on knows these may be in flight.
                self.state.save(clean=False, in_flight=min(self._outstanding, self.in_flight_bound))

    def finish_source(self, source: int) -> None:
        """Every block of the source was merged."""
        with self._lock:
            self._finished.add(source)
            self._advance(source)

    def accept(self, refs: list[tuple[int, int]]) -> None:
        """A batch was accepted: its hits are done. Saves the state."""
        with self._lock:
            touched = set()
            for source, line in refs:
                blocks = self._blocks.get(source)
                if not blocks:
                    continue
                for block in blocks:
                    if block.first_line < line <= block.first_line + block.lines:
                        if line in block.outstanding:
                            block.outstanding.discard(line)
                            block.accepted.append(line)
                            self._outstanding -= 1
                        break
                touched.add(source)
            for source in touched:
                self._advance(source)
            if self._closed:  # a lane that ended after the run gave up on it: the state is no longer ours
                return
            self.state.save(clean=False, in_flight=min(self._outstanding, self.in_flight_bound))

    def save(self, *, clean: bool) -> None:
        """The final save of a run (fsynced)."""
        with self._lock:
            in_flight = 0 if clean else min(self._outstanding, self.in_flight_bound)
            self.state.save(clean=clean, in_flight=in_flight, sync=True)

    def close(self) -> None:
        """No more saves: the run is over (a late lane must not write the file another run may hold)."""
        with self._lock:
            self._closed = True

    def _advance(self, source: int) -> None:
        entry = self._entries.get(source)
        if entry is None:
            return
        blocks = self._blocks[source]
        while blocks and not blocks[0].outstanding:
            done = blocks.popleft()
            entry.offset = done.end
            entry.line = done.first_line + done.lines
        entry.acked = sorted(line for block in blocks for line in block.accepted)
        entry.done = entry.compressed and source in self._finished and not blocks
        entry.seen = now_text()
