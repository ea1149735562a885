"""Where to start reading each source, from the state file: the rule that makes re-runs send only new lines.

* a source seen before (same content fingerprint) starts at its checkpoint: the same file again sends nothing,
  a grown file only its new lines, a rotated or compressed copy the rest of it;
* a source never seen (a new file at the old path, the truncated file after copytruncate) starts at 0;
* ``--force-reimport`` starts every source at 0 and records the new progress.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from import_logs.checkpoint.state import FINGERPRINT_BYTES, Entry, StateFile
from import_logs.sources.kinds import FileSource

#: A plain file modified more recently than this may be half-way through writing its last line.
SETTLE_SECONDS = 60.0


@dataclass
class Resume:
    entry: Entry | None = None
    offset: int = 0
    #: Lines before ``offset``.
    line: int = 0
    #: Lines after ``line`` whose hits a previous run already sent.
    acked: frozenset[int] = frozenset()
    #: The byte where reading stops (a plain file's unfinished last line waits for the next run).
    end: int | None = None
    #: Why nothing is read from this source, when nothing is.
    nothing: str = ""
    notes: list[str] = field(default_factory=list)


def read_head(source: FileSource) -> bytes:
    stream = source.open()
    try:
        return stream.read(FINGERPRINT_BYTES)
    finally:
        stream.close()


def plan(
    state: StateFile,
    source: FileSource,
    *,
    force: bool,
    claimed: set[int],
    head: bytes | None = None,
    stat: os.stat_result | None = None,
) -> Resume:
    """Where to read ``source``; ``claimed`` holds the entries this run already reads.

    A followed file gives its ``head`` and ``stat`` read through its open descriptor (its path may be another
    file by now)."""
    if head is None:
        head = read_head(source)
    if not head:
        return Resume(nothing="empty")
    if stat is None:
        stat = os.stat(source.path)
    entry = state.match(head, source.path, stat.st_dev, stat.st_ino)
    if entry is not None and id(entry) in claimed:
        return Resume(nothing=f"the same content as another file of this run ({entry.path})")
    if entry is None:
        entry = state.add(head, source.path, compressed=source.compressed)
    claimed.add(id(entry))
    resume = Resume(entry=entry)
    previous_path = entry.path
    state.update(
        entry,
        path=source.path,
        dev=stat.st_dev,
        inode=stat.st_ino,
        size=stat.st_size,
        compressed=source.compressed,
    )
    state.grow(entry, head)
    if force:
        state.restart(entry)
        return resume
    if previous_path != source.path and entry.offset:
        resume.notes.append(f"{source.path}: continues {previous_path} from line {entry.line + 1} (rotated)")
    if not source.compressed and entry.offset > stat.st_size:
        resume.notes.append(f"{source.path}: shorter than when last imported; importing it from the start")
        state.restart(entry)
    resume.offset, resume.line, resume.acked = entry.offset, entry.line, frozenset(entry.acked)
    if entry.done:
        resume.nothing = "already imported"
        return resume
    if not source.compressed:
        resume.end = complete_end(source.path, stat.st_size, stat.st_mtime)
        if resume.offset >= resume.end:
            resume.nothing = "no new lines"
    return resume


def complete_end(path: str, size: int, mtime: float, now: float | None = None) -> int:
    """The end of the last complete line of a plain file that is still being written, else its size. A file
    without any ``\\n`` ends its lines with ``\\r`` alone (:mod:`import_logs.sources.heads`)."""
    if size == 0 or (now if now is not None else time.time()) - mtime >= SETTLE_SECONDS:
        return size
    with open(path, "rb") as f:
        for end in (b"\n", b"\r"):
            pos = size
            while pos > 0:
                step = min(65536, pos)
                f.seek(pos - step)
                chunk = f.read(step)
                cut = chunk.rfind(end)
                if cut >= 0:
                    return pos - step + cut + 1
                pos -= step
    return 0
