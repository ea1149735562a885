"""Every field of a state file and of its journal checked as it is loaded, each fault named with its fix.

A state file edited by hand, damaged by a disk, or written by a newer import-logs must stop the run with one
message that names the file, the field, what it holds and what to do, never an internal error halfway through
the planning (an offset of -50 reached ``os.pread``) or a silent guess (a version this code does not know).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from import_logs.errors import StateFileError

#: What to do about a damaged snapshot (the same words wherever it is named).
SNAPSHOT_FIX = (
    "It was damaged or edited by hand: restore it from a backup, or move it away to start afresh (every file "
    "given would be imported again from its start, as with --force-reimport)."
)
#: What to do about a damaged journal.
JOURNAL_FIX = (
    "It was damaged or edited by hand: restore it, or move it away (the lines it records as accepted since the "
    "last snapshot would be imported again)."
)

_MISSING = object()
_COUNTS = ("offset", "line", "size", "dev", "inode")
_FLAGS = ("compressed", "object", "done")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is _MISSING:
        return "missing"
    text = "is " + repr(value)
    return text if len(text) <= 63 else text[:60] + "..."


def check_snapshot(data: Any, path: str, *, version: int, fingerprint_bytes: int) -> None:
    """Raise :class:`StateFileError` naming the first field of ``data`` that a state file cannot hold."""
    if not isinstance(data, dict) or not isinstance(data.get("sources", []), list):
        raise StateFileError(
            f"state file {path} is JSON but not an import-logs state file (expected an object with a list of "
            "sources, each with fingerprint, path, offset and line). Move it away to start afresh (every line "
            "would be imported again), or restore it from a backup.",
            path=path,
        )
    found = data.get("version", version)
    if not _whole(found) or found < 1:
        raise _fault(path, "version", found, "a whole number >= 1", SNAPSHOT_FIX)
    if found > version:
        raise StateFileError(
            f"state file {path} was written by a newer import-logs (state version {found}; this one reads version "
            f"{version} and older). Run the newer import-logs again, or move the file away to start afresh with "
            "this one (every file given would be imported again from its start).",
            path=path,
        )
    if not isinstance(data.get("destination", ""), str):
        raise _fault(path, "destination", data["destination"], "text", SNAPSHOT_FIX)
    if not isinstance(data.get("updated", ""), str):
        raise _fault(path, "updated", data["updated"], "a date as text", SNAPSHOT_FIX)
    if not isinstance(data.get("clean", True), bool):
        raise _fault(path, "clean", data["clean"], "true or false", SNAPSHOT_FIX)
    in_flight = data.get("in_flight", 0)
    if not _whole(in_flight) or in_flight < 0:
        raise _fault(path, "in_flight", in_flight, "a whole number >= 0", SNAPSHOT_FIX)
    for n, entry in enumerate(data.get("sources", [])):
        check_entry(entry, path, f"sources[{n}]", SNAPSHOT_FIX, fingerprint_bytes=fingerprint_bytes)
    listings = data.get("listings", [])
    if not isinstance(listings, list):
        raise _fault(path, "listings", listings, "a list of listed patterns", SNAPSHOT_FIX)
    for n, mark in enumerate(listings):
        check_mark(mark, path, f"listings[{n}]")
    recent = data.get("recent", [])
    if not isinstance(recent, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair) for pair in recent
    ):
        raise _fault(path, "recent", recent, "a list of [key, date] pairs (objects a queue announced)", SNAPSHOT_FIX)


def check_mark(mark: Any, path: str, where: str) -> None:
    """One listed pattern's mark (see :mod:`import_logs.checkpoint.listing`)."""
    if not isinstance(mark, dict):
        raise _fault(path, where, mark, "an object (one listed pattern)", SNAPSHOT_FIX)
    if not isinstance(mark.get("pattern"), str) or "://" not in mark["pattern"]:
        raise _fault(path, f"{where}.pattern", mark.get("pattern", _MISSING), "a URL (s3://...)", SNAPSHOT_FIX)
    if not isinstance(mark.get("after", ""), str):
        raise _fault(path, f"{where}.after", mark["after"], "a key as text", SNAPSHOT_FIX)
    for key in ("before", "listed"):
        value = mark.get(key, "")
        if not isinstance(value, str) or (value and not _iso(value)):
            raise _fault(path, f"{where}.{key}", value, "a date as ISO 8601 text", SNAPSHOT_FIX)
    pending = mark.get("pending", [])
    if not isinstance(pending, list) or not all(isinstance(k, str) for k in pending):
        raise _fault(path, f"{where}.pending", pending, "a list of keys", SNAPSHOT_FIX)
    folded = mark.get("folded", 0)
    if not _whole(folded) or folded < 0:
        raise _fault(path, f"{where}.folded", folded, "a whole number >= 0", SNAPSHOT_FIX)


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_entry(entry: Any, path: str, where: str, fix: str, *, fingerprint_bytes: int) -> None:
    """Raise :class:`StateFileError` naming the first field of one source's entry that is wrong."""
    if not isinstance(entry, dict):
        raise _fault(path, where, entry, "an object (one source)", fix)
    for key in ("fingerprint", "path"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise _fault(path, f"{where}.{key}", entry.get(key, _MISSING), "a non-empty text", fix)
    fp_len = entry.get("fp_len", 0)
    if not _whole(fp_len) or not 0 <= fp_len <= fingerprint_bytes:
        raise _fault(path, f"{where}.fp_len", fp_len, f"a whole number from 0 to {fingerprint_bytes}", fix)
    for key in _COUNTS:
        value = entry.get(key, 0)
        if not _whole(value) or value < 0:
            raise _fault(path, f"{where}.{key}", value, "a whole number >= 0", fix)
    check_lines(entry.get("acked", []), path, f"{where}.acked", fix)
    for key in _FLAGS:
        if not isinstance(entry.get(key, False), bool):
            raise _fault(path, f"{where}.{key}", entry[key], "true or false", fix)
    if not isinstance(entry.get("seen", ""), str):
        raise _fault(path, f"{where}.seen", entry["seen"], "a date as text", fix)


def check_lines(lines: Any, path: str, where: str, fix: str) -> None:
    if not isinstance(lines, list) or not all(_whole(n) and n >= 0 for n in lines):
        raise _fault(path, where, lines, "a list of line numbers (whole numbers >= 0)", fix)


def check_journal_record(record: Any, path: str, number: int, *, fingerprint_bytes: int) -> None:
    """One line of the journal: ``{"entry": {...}}`` (a source started), ``{"acked": {fingerprint: [n, ...]}}``, or
    ``{"in_flight": n}`` (a run began sending: its bound of hits that may be accepted twice)."""
    where = f"line {number}"
    if not isinstance(record, dict) or not ({"entry", "acked", "in_flight"} & set(record)):
        raise _fault(path, where, record, 'an object with "entry", "acked" or "in_flight"', JOURNAL_FIX)
    if "in_flight" in record:
        count = record["in_flight"]
        if not _whole(count) or count < 0:
            raise _fault(path, f"{where}: in_flight", count, "a whole number >= 0", JOURNAL_FIX)
        return
    if "entry" in record:
        check_entry(record["entry"], path, f"{where}: entry", JOURNAL_FIX, fingerprint_bytes=fingerprint_bytes)
        return
    acked = record["acked"]
    if not isinstance(acked, dict):
        raise _fault(path, f"{where}: acked", acked, "an object of fingerprints and line numbers", JOURNAL_FIX)
    for fp, lines in acked.items():
        check_lines(lines, path, f"{where}: acked[{fp[:12]}]", JOURNAL_FIX)


def _fault(path: str, field: str, value: Any, expected: str, fix: str) -> StateFileError:
    return StateFileError(f"state file {path}: {field} {_show(value)}, not {expected}. {fix}", path=path)
