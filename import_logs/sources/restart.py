"""What a followed log's service reads first when it starts again: the rest of the rotated copies an earlier run
had not read (and whole copies made while no run was up), and a log rotated away at that very moment waited for."""

from __future__ import annotations

import glob
import os
import threading
import time

from import_logs.checkpoint.resume import read_head
from import_logs.checkpoint.state import StateFile
from import_logs.errors import CorruptInputError
from import_logs.events import EventSink, Notice
from import_logs.sources.files import STDIN, compression_of
from import_logs.sources.kinds import FileSource
from import_logs.sources.rotation import is_live, rotated_copies

#: How long ``--follow`` waits at start for a log that was just rotated away to be created again.
REAPPEAR_WAIT = 60.0


def await_logs(paths: list[str], poll: float, stop: threading.Event, on_event: EventSink) -> None:
    """Logs named for ``--follow`` that are not there but have rotated copies beside them: started in the gap
    between logrotate's rename and the server's reopen. Each is waited for (at most :data:`REAPPEAR_WAIT`
    seconds, with a message); one that does not come back is then named as missing, as without ``--follow``."""
    gone = [p for p in paths if p != STDIN and not glob.has_magic(p) and is_live(p) and not os.path.lexists(p)]
    gone = [p for p in gone if rotated_copies(p)]
    if not gone:
        return
    for path in gone:
        on_event(Notice(f"{path}: not there (rotated?); waiting up to {REAPPEAR_WAIT:.0f} s for it to come back"))
    deadline = time.monotonic() + REAPPEAR_WAIT
    while any(not os.path.lexists(p) for p in gone) and time.monotonic() < deadline:
        if stop.wait(min(poll, 0.2)):
            return


def unfinished_copies(path: str, state: StateFile | None) -> list[str]:
    """Rotated copies of a followed log with lines a previous run has not read, oldest first: the rest of each
    copy it was reading (at offset 0 too: a place where nothing was accepted yet is still a place), and every
    whole copy newer than the newest one it knew (a log created and rotated while no run was up). Copies older
    than any it knew are history this service was never asked to import."""
    if state is None:
        return []
    found: list[str] = []
    known = False
    for copy in rotated_copies(path):
        seen = _seen(state, copy)
        if seen is None:
            if known:
                found.append(copy)
            continue
        known = True
        if not seen:
            found.append(copy)
    return found


def _seen(state: StateFile, path: str) -> bool | None:
    """None: a copy no run has read (or one that cannot be read now); True: read to its end; False: begun."""
    source = FileSource(-1, path, path, compression_of(path), None)
    try:
        head = read_head(source)
        stat = os.stat(path)
    except (OSError, CorruptInputError):
        return None
    entry = state.match(head, path, stat.st_dev, stat.st_ino) if head else None
    if entry is None:
        return None
    if entry.done:
        return True
    return not source.compressed and entry.offset >= stat.st_size
