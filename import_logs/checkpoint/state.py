"""The state file: where each log stands for one destination, so that a re-run sends only what is new.

A source is recognised by its content, not its name: the SHA-256 of its first bytes once decompressed
(``FINGERPRINT_BYTES``, or fewer for a shorter file), so a log that was renamed, copied by copytruncate, or
compressed after rotation is still the same source. For each source the state keeps the offset and the line
number of the first line not yet done, the lines after it that were already accepted, and hints (path, size,
device, inode).

The file is a snapshot, replaced atomically (temporary file, fsync, rename) at most once a second. Between
snapshots every accepted batch appends its line numbers to a journal beside it (one small write, no fsync:
enough to survive a kill -9); loading replays the journal over the snapshot. A lock keeps two runs apart.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from import_logs.checkpoint.files import fsync_dir
from import_logs.checkpoint.listing import Mark, mark_from
from import_logs.checkpoint.runlock import RunLock
from import_logs.checkpoint.validate import SNAPSHOT_FIX, check_journal_record, check_snapshot
from import_logs.errors import ConfigError, StateFileError

FINGERPRINT_BYTES = 1024
#: Version 2 adds the marks of listed patterns (``listings``); a state without any is still written as version 1,
#: which an older import-logs reads. One with marks it refuses (it would import the folded objects again).
VERSION = 2
VERSION_WITHOUT_LISTINGS = 1
#: Sources not seen for this long are forgotten, so that the file does not grow for ever.
FORGET_AFTER_DAYS = 60
#: Queue mode (``--queue``): the objects imported lately, known by URL and ETag so that a message delivered again
#: is deleted without reading its object; at most this many, for at most SQS's longest retention (14 days).
RECENT_KEPT = 10_000
RECENT_DAYS = 14


@dataclass
class Entry:
    fingerprint: str
    fp_len: int
    path: str
    offset: int = 0
    line: int = 0
    #: Line numbers after ``line`` whose hits were already accepted.
    acked: list[int] = field(default_factory=list)
    size: int = 0
    dev: int = 0
    inode: int = 0
    compressed: bool = False
    #: An object of a store (``path`` is its URL, ``fingerprint`` its identity's hash): read once, then done.
    object: bool = False
    done: bool = False
    seen: str = ""
    #: An object not read whole: the SHA-256 and length of the content read of it (a new version that starts
    #: with the same bytes reads on after them, see :mod:`import_logs.checkpoint.versions`).
    prefix: str = ""
    prefix_len: int = 0


def fingerprint(head: bytes, length: int) -> str:
    return hashlib.sha256(head[:length]).hexdigest()


def object_fingerprint(identity: str) -> str:
    return hashlib.sha256(b"object\0" + identity.encode()).hexdigest()


def recent_key(url: str, etag: str) -> str:
    """What the record of recent objects keeps of one: 128 bits of the hash of its URL and ETag."""
    return hashlib.sha256(f"{url}\0{etag}".encode()).hexdigest()[:32]


def now_text() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def default_state_path(directory: str, destination: str) -> str:
    """``<dir>/<readable slug>-<hash>.json`` for a destination."""
    slug = "".join(c if c.isalnum() else "-" for c in destination.split("://")[-1])[:60].strip("-")
    digest = hashlib.sha256(destination.encode()).hexdigest()[:12]
    return str(Path(directory) / f"{slug}-{digest}.json")


class StateFile:
    """The state of one destination. Use as a context manager: it takes the lock, and releases it."""

    def __init__(
        self,
        path: str,
        destination: str,
        *,
        lock_timeout: float = 10.0,
        read_only: bool = False,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        #: Told once when the lock is held by another run and this one starts waiting for it.
        self.on_wait = on_wait
        self.destination = destination
        self.lock_timeout = lock_timeout
        self.read_only = read_only
        self.entries: list[Entry] = []
        #: The mark of each listed pattern (see :mod:`import_logs.checkpoint.listing`), by pattern.
        self.listings: dict[str, Mark] = {}
        #: Object entries by fingerprint, built on first use.
        self._objects: dict[str, Entry] | None = None
        #: Queue mode: the objects imported lately (see :meth:`remember`), oldest first: key → when.
        self.recent: dict[str, str] = {}
        #: What the previous run left: did it end cleanly, and how many hits were being sent.
        self.previous_clean = True
        self.previous_in_flight = 0
        self._run_lock = RunLock(path, lock_timeout, on_wait)
        #: Held while an entry is changed and while a snapshot reads them: a snapshot never saves half a change.
        self.lock = threading.RLock()
        self._journal_fd: int | None = None
        #: Each entry as the last snapshot holds it (see :meth:`saved_as`), and the entries added since.
        self._saved: dict[str, tuple[Any, ...]] = {}
        self._added: set[str] = set()
        #: The error of a journal write that failed: later lines would follow a torn one, so none is written.
        self._journal_failed: OSError | None = None
        self.journal_path = path + ".journal"

    # --- lock and load ------------------------------------------------------------------------------------

    def __enter__(self) -> StateFile:
        if not self.read_only:
            self._lock()
        try:
            self._load()
            if not self.read_only:
                try:
                    self._journal_fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                except OSError as exc:
                    raise self._unwritable(self.journal_path, exc) from None
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        self._unlock()

    def _lock(self) -> None:
        self._run_lock.acquire()

    def _unlock(self) -> None:
        self._run_lock.release()

    def _load(self) -> None:
        try:
            data = json.loads(Path(self.path).read_text(encoding="utf-8"))
        except FileNotFoundError:  # no snapshot yet: what a first run killed early journaled is all there is
            self._replay()
            return
        except OSError as exc:
            raise self._unreadable(self.path, exc) from None
        except ValueError as exc:
            raise StateFileError(
                f"state file {self.path}: not valid JSON ({exc}). {SNAPSHOT_FIX}", path=self.path
            ) from None
        check_snapshot(data, self.path, version=VERSION, fingerprint_bytes=FINGERPRINT_BYTES)
        if data.get("destination") not in (None, self.destination):
            raise ConfigError(
                f"state file {self.path} belongs to {data.get('destination')}, not {self.destination}. "
                "Give each destination its own --state-file."
            )
        self.previous_clean = data.get("clean", True)
        self.previous_in_flight = data.get("in_flight", 0)
        self.entries = [_entry(e) for e in data.get("sources", [])]
        self._saved = {e.fingerprint: _form(e) for e in self.entries}
        self.listings = {m.pattern: m for m in map(mark_from, data.get("listings", []))}
        self.recent = dict(data.get("recent", []))
        self._replay()

    def _replay(self) -> None:
        """Add the lines that the journal says were accepted after the snapshot."""
        try:
            text = Path(self.journal_path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._unreadable(self.journal_path, exc) from None
        by_fingerprint = {e.fingerprint: e for e in self.entries}
        for number, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the last line of a run killed while writing it: its batch counts as in flight
            check_journal_record(record, self.journal_path, number, fingerprint_bytes=FINGERPRINT_BYTES)
            if "in_flight" in record:  # a run began sending: its bound, newer than the snapshot's
                self.previous_in_flight = record["in_flight"]
                continue
            if "entry" in record:
                started = _entry(record["entry"])
                if started.fingerprint not in by_fingerprint:
                    self.entries.append(started)
                    by_fingerprint[started.fingerprint] = started
                continue
            for fp, lines in record["acked"].items():
                entry = by_fingerprint.get(fp)
                if entry is not None:
                    entry.acked = sorted(set(entry.acked) | {n for n in lines if n > entry.line})
        self.previous_clean = False if text.strip() else self.previous_clean

    def _unreadable(self, path: str, exc: OSError) -> StateFileError:
        return StateFileError(
            f"state file {path}: cannot be read ({exc.strerror or exc}). Let this user read it and write its "
            "directory, or choose another with --state-file (a new one imports every file given from its start).",
            path=path,
        )

    # --- sources ------------------------------------------------------------------------------------------

    def match(self, head: bytes, path: str, dev: int, inode: int) -> Entry | None:
        """The entry of the source whose content starts with ``head``, preferring the same file, then name."""
        found = [
            e
            for e in self.entries
            if e.fp_len and len(head) >= e.fp_len and fingerprint(head, e.fp_len) == e.fingerprint
        ]
        if not found:
            return None
        found.sort(key=lambda e: ((e.dev, e.inode) != (dev, inode) or not inode, e.path != path, -e.offset))
        return found[0]

    def add(self, head: bytes, path: str, compressed: bool) -> Entry:
        length = min(len(head), FINGERPRINT_BYTES)
        entry = Entry(fingerprint(head, length), length, path, compressed=compressed, seen=now_text())
        with self.lock:  # the queue's timer may forget entries meanwhile
            self.entries.append(entry)
            self._added.add(entry.fingerprint)
        return entry

    def saved_as(self, entry: Entry) -> str:
        """How the last snapshot holds an entry: ``"new"`` (added since, never saved: a journaled entry record is
        enough for a crash to find it), ``"same"`` (as it is now, but for when it was seen and the lines accepted,
        which the journal adds), else ``"changed"`` (only a snapshot says so)."""
        with self.lock:
            saved = self._saved.get(entry.fingerprint)
            if saved is None:
                return "new" if entry.fingerprint in self._added else "changed"
            return "same" if saved == _form(entry) else "changed"

    # --- changing an entry: here only, under the lock (the ledger, after planning, through its own API) --------

    def update(self, entry: Entry, **fields: Any) -> None:
        """Set fields of an entry at once, as a snapshot sees them."""
        with self.lock:
            for name, value in fields.items():
                if name not in Entry.__dataclass_fields__:
                    raise AttributeError(name)
                setattr(entry, name, value)

    def restart(self, entry: Entry) -> None:
        """The source is read again from its start (``--force-reimport``; a plain file shorter than before)."""
        self.update(entry, offset=0, line=0, acked=[], done=False)

    def grow(self, entry: Entry, head: bytes) -> bool:
        """The one rule for a growing fingerprint: a source that was shorter than a fingerprint is known by more of
        its first bytes from now on (its start is unchanged). True when it changed."""
        length = min(len(head), FINGERPRINT_BYTES)
        if length <= entry.fp_len:
            return False
        self.update(entry, fp_len=length, fingerprint=fingerprint(head, length))
        return True

    def object_entry(self, identity: str) -> Entry | None:
        """The entry of an object (URL, version and size), if it was read before."""
        with self.lock:
            if self._objects is None:
                self._objects = {e.fingerprint: e for e in self.entries if e.object}
            return self._objects.get(object_fingerprint(identity))

    def add_object(self, identity: str, url: str) -> Entry:
        entry = Entry(object_fingerprint(identity), 0, url, object=True, seen=now_text())
        with self.lock:  # the queue's timer may forget entries meanwhile
            self.entries.append(entry)
            self.object_entry(identity)
            assert self._objects is not None
            self._objects[entry.fingerprint] = entry
        return entry

    def remember(self, done: list[tuple[str, str, Entry | None]]) -> None:
        """Queue mode: objects done (URL, ETag, entry) go from the entries to the bounded record of recent ones."""
        with self.lock:
            for url, etag, _ in done:
                key = recent_key(url, etag)
                self.recent.pop(key, None)
                self.recent[key] = now_text()
            cutoff = time.time() - RECENT_DAYS * 86400
            for key in [key for key, when in self.recent.items() if _epoch(when) < cutoff]:
                del self.recent[key]
            for key in list(self.recent)[: max(0, len(self.recent) - RECENT_KEPT)]:
                del self.recent[key]
            self.forget([entry for _, _, entry in done if entry is not None])

    def recently_done(self, url: str, etag: str) -> bool:
        return recent_key(url, etag) in self.recent

    def forget(self, entries: list[Entry]) -> None:
        gone = {id(e) for e in entries}
        with self.lock:
            self.entries = [e for e in self.entries if id(e) not in gone]
            self._objects = None

    def fold(self, mark: Mark, entries: list[Entry]) -> None:
        """A listed pattern's new mark, and the entries of the objects it now covers, forgotten at once (the next
        snapshot holds both or neither)."""
        with self.lock:
            self.listings[mark.pattern] = mark
            self.forget(entries)

    # --- saving -------------------------------------------------------------------------------------------

    def record(self, acked: dict[str, list[int]]) -> None:
        """Journal lines just accepted (fingerprint → line numbers): one append, no fsync."""
        self._journal({"acked": acked})

    def record_entry(self, entry: Entry) -> None:
        """Journal a source's entry, so that the journal's lines can name it before the next snapshot holds it."""
        self._journal({"entry": asdict(entry)})

    def record_in_flight(self, hits: int) -> None:
        """Journal, before a run sends anything, how many hits it may have accepted without the journal knowing
        (a run that is killed before its first snapshot leaves its own bound, not the previous run's)."""
        self._journal({"in_flight": hits})

    def _journal(self, record: dict[str, Any]) -> None:
        """Append one line, whole or not at all as far as the caller knows: a full disk may take part of a write
        (a short write, then the error), and a line the next run cannot read is a batch it does not know of; the
        lane must stop at that batch, so that it stays the one in flight. After a failure nothing is appended."""
        if self._journal_fd is None:
            return
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            if self._journal_failed is not None:
                raise self._journal_failed
            while data:
                data = data[os.write(self._journal_fd, data) :]
        except OSError as exc:
            self._journal_failed = exc
            raise self._unwritable(self.journal_path, exc) from None

    def save(self, *, clean: bool, in_flight: int = 0) -> None:
        """Write a snapshot atomically and durably (fsync, rename, directory fsync), then empty the journal."""
        if self.read_only:
            return
        cutoff = time.time() - FORGET_AFTER_DAYS * 86400
        with self.lock:
            keep = [e for e in self.entries if not e.seen or _epoch(e.seen) >= cutoff]
            sources = [asdict(e) for e in keep]
            saved = {e.fingerprint: _form(e) for e in keep}
            listings = [asdict(m) for m in self.listings.values()]
            recent = [[key, when] for key, when in self.recent.items()]
        data: dict[str, Any] = {
            "version": VERSION if listings else VERSION_WITHOUT_LISTINGS,
            "destination": self.destination,
            "updated": now_text(),
            "clean": clean,
            "in_flight": in_flight,
            "sources": sources,
        }
        if listings:
            data["listings"] = listings
        if recent:
            data["recent"] = recent
        tmp = f"{self.path}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it names files and hosts
            with open(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # no empty .tmp left behind; the snapshot before, and the journal, stand
            raise self._unwritable(self.path, exc) from None
        fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        if self._journal_fd is not None:
            os.ftruncate(self._journal_fd, 0)
        with self.lock:
            self._saved = saved
            self._added.clear()

    def _unwritable(self, path: str, exc: OSError) -> StateFileError:
        directory = os.path.dirname(os.path.abspath(path))
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = f"let this user write {directory} (mounted read-write)"
        else:
            fix = f"free space in {directory}"
        return StateFileError(
            f"state file {path}: cannot be written ({exc.strerror or exc}). The import stopped so that the state "
            f"never runs behind the server; {fix} (or choose another --state-file) and run again: at most the "
            "batches that were being sent are sent again.",
            path=path,
        )

    def describe(self, where: Callable[[Entry], str] | None = None) -> Iterator[str]:
        """Lines for --show-state; ``where`` names an entry's file as it is now (else by its last name)."""
        yield f"state file {self.path}"
        yield f"destination {self.destination}"
        if not self.entries and not self.listings:
            yield "  no source imported yet"
        for m in self.listings.values():
            pending = f", {len(m.pending)} not done ({', '.join(m.pending[:3])})" if m.pending else ""
            yield (
                f"  {m.pattern}: {m.folded:,} objects done up to {m.after or '(none yet)'}{pending}; listed whole "
                f"{m.listed}"
            )
        for e in self.entries:
            status = "done" if e.done else f"next line {e.line + 1} (byte {e.offset:,})"
            yield f"  {where(e) if where else e.path}: {status}; last seen {e.seen}; fingerprint {e.fingerprint[:12]}"


def _form(e: Entry) -> tuple[Any, ...]:
    """What of an entry only a snapshot can say (a resume point, a name, a kind)."""
    return (e.fp_len, e.path, e.offset, e.line, e.done, e.size, e.dev, e.inode, e.compressed, e.object, e.prefix,
            e.prefix_len)  # fmt: skip


def _entry(fields: dict[str, Any]) -> Entry:
    """An entry from its checked fields (those of a newer import-logs left out)."""
    return Entry(**{k: v for k, v in fields.items() if k in Entry.__dataclass_fields__})


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return time.time()
