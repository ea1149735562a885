"""The names logrotate gives a log's copies: which log a file belongs to, how old it is among its copies, which
file is the live one, and a live log's rotated copies beside it."""

from __future__ import annotations

import glob
import os
import re

#: Compression by file name, when a file's first bytes do not say (an empty file).
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}

#: ``access.log.3`` (logrotate's numbers: the higher, the older).
_NUMBERED = re.compile(r"(?P<base>.+)\.(?P<number>\d{1,6})")
#: ``access.log-20261129``, ``access.log.2026-11-29``, ``access.log-1764400000`` (dateext: the higher, the newer).
_DATED = re.compile(r"(?P<base>.+?)[-_.](?P<stamp>\d{8,14}|\d{4}-\d\d-\d\d(?:[-_T]\d\d(?:[-:]?\d\d){0,2})?)")


def rotation(path: str) -> tuple[str, tuple[int, int]]:
    """The log a file belongs to (its path without rotation and compression suffixes), and its age rank:
    dated copies by date, then numbered copies from the highest number, then the live file."""
    stem = path
    if os.path.splitext(stem)[1].lower() in COMPRESSED_SUFFIXES:
        stem = os.path.splitext(stem)[0]
    found = _NUMBERED.fullmatch(stem)
    if found:
        return found["base"], (1, -int(found["number"]))
    found = _DATED.fullmatch(stem)
    if found:
        return found["base"], (0, int(re.sub(r"\D", "", found["stamp"])))
    return stem, (2, 0)


def oldest_first(paths: list[str]) -> list[str]:
    """The files of each log from the oldest to the newest (rotation rank, then modification time); the logs
    in the order of their first file. ``access.log*`` gives ``.3.gz .2.gz .1`` and then ``access.log``."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(rotation(path)[0], []).append(path)

    def age(path: str) -> tuple[tuple[int, int], float, str]:
        try:
            mtime = os.path.getmtime(path)
        except OSError:
            mtime = 0.0  # missing: _check names it
        return rotation(path)[1], mtime, path

    return [path for group in groups.values() for path in sorted(group, key=age)]


def is_live(path: str) -> bool:
    """A log being written to: no rotation number or date, not compressed (``access.log``, not ``access.log.1``)."""
    return os.path.splitext(path)[1].lower() not in COMPRESSED_SUFFIXES and rotation(path)[1] == (2, 0)


def rotated_copies(path: str) -> list[str]:
    """The rotated copies of a live log beside it (``access.log.1``, ``access.log-20261130.gz``), oldest first."""
    base = rotation(path)[0]
    found = [
        p for p in glob.glob(glob.escape(path) + "[.-_]*") if p != path and rotation(p)[0] == base and os.path.isfile(p)
    ]
    return oldest_first(found)
