"""The messages of a queue (``--queue``) between their receipt and their deletion.

A message received announces objects. Those the inputs do not name are left for another consumer or deleted
(``--queue-other``); those already imported (the same URL and ETag, in the state's record of recent objects or as
a done entry) are not read again; the others become object sources of this run. The message is then held: its
visibility is extended on a timer while its objects are read and their hits sent, and it is deleted once the
state, saved, holds each of them as done; their entries then leave the state for the bounded record of recent
objects, so that the state keeps only the objects under way. A message that cannot be processed (not an S3
notification, its object deleted since, or damaged) is named and counted, and deleted once SQS has handed it out
``--queue-max-receives`` times; until then it is left to come back. A tracker outage is never a message's
fault: its objects are not done, so it is never deleted for it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from import_logs.checkpoint.ledger import Ledger
from import_logs.checkpoint.state import Entry, StateFile
from import_logs.config import Config
from import_logs.errors import InputError
from import_logs.events import Change, EventSink, Notice, SourceEvent
from import_logs.pipeline.runs import SourceRun
from import_logs.sources.objects import Bucket, ObjectPattern, ObjectRef, ObjectStream, key_matcher, split_url
from import_logs.sources.queue import CRON_POLL, LONGEST_POLL, Announced, Every, Message, SqsQueue
from import_logs.stats import Stats

#: The figures of a queue, as said at the end of a run.
SAID = {
    "received": "message(s)",
    "test_events": "test event(s)",
    "other_objects": "for other objects",
    "delivered_again": "delivered again",
    "replaced_since": "replaced since",
    "objects_imported": "objects imported",
    "poison_deleted": "not processed, deleted",
    "poison_left": "not processed, left",
    "store_errors": "left: the store could not be read (not counted against the message)",
}

#: What a fetch of an object says when the fault is the message's (its object gone or replaced since), not the
#: store's: the store's (unreachable, refused credentials) never counts towards deleting a message.
OBJECT_FAULTS = ("no such object", "was replaced")

#: Longest time between two turns of the timer that extends the messages held and deletes those done (seconds).
TICK_EVERY = 5.0


@dataclass(eq=False)
class Under:
    """An announced object of this run: once read, its run (did it fail?) and its state entry (is it done?)."""

    url: str
    etag: str
    run: SourceRun | None = None
    read: bool = False
    #: Why it cannot be imported, found before reading it (deleted since it was announced...).
    reason: str = ""
    #: It could not be read because of the store (unreachable, refused credentials), not of the message: the
    #: message comes back, as for a tracker outage, and is never deleted for it.
    store_fault: bool = False

    @property
    def entry(self) -> Entry | None:
        return self.run.resume.entry if self.run is not None else None

    @property
    def resolved(self) -> bool:
        return self.read or bool(self.reason)

    @property
    def failed(self) -> bool:
        return bool(self.reason) or (self.run is not None and self.run.incomplete)

    @property
    def done(self) -> bool:
        entry = self.entry
        return entry is not None and entry.done


@dataclass(eq=False)
class Held:
    message: Message
    objects: list[Under] = field(default_factory=list)


class Buckets:
    """The buckets of the announced objects, each opened once (a :class:`~import_logs.sources.objects.Fetcher`)."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self._open: dict[str, Bucket] = {}

    def get(self, name: str) -> Bucket:
        if name not in self._open:
            self._open[name] = Bucket("s3", name, endpoint=self.endpoint)
        return self._open[name]

    def of(self, ref: ObjectRef) -> Bucket:
        return self.get(split_url(ref.url)[1])

    def fetch(self, ref: ObjectRef) -> bytes:
        return self.of(ref).fetch(ref)

    def stream(self, ref: ObjectRef) -> ObjectStream:
        return self.of(ref).stream(ref)


class QueueRun:
    """The queue of one run: what was received, what is held, what may be deleted."""

    def __init__(
        self,
        config: Config,
        stats: Stats,
        on_event: EventSink,
        patterns: Sequence[ObjectPattern],
        *,
        state: StateFile | None,
        ledger: Ledger | None,
    ) -> None:
        q = config.queue
        assert q.url is not None
        self.options = q
        self.url = q.url
        self.stats = stats
        self.on_event = on_event
        self.state = state
        self.ledger = ledger
        self.force = config.state.force_reimport
        self.follow = config.follow.enabled
        self.flush_interval = config.follow.flush_interval
        self.filters = []
        for pattern in patterns:
            scheme, name, key = split_url(pattern.url)
            if scheme != "s3":
                raise InputError(pattern.url, "is not in S3", "A queue of S3 notifications takes s3:// patterns.")
            self.filters.append((name, key_matcher(key)[1]))
        self.queue = SqsQueue(q.url, endpoint=config.s3_endpoint)
        self.buckets = Buckets(config.s3_endpoint)
        self.lock = threading.Lock()
        #: Messages held (by id), and the objects under way by (URL, ETag): a message delivered again while its
        #: object is read waits for the same object.
        self.held: dict[str, Held] = {}
        self.under: dict[tuple[str, str], Under] = {}
        #: The object sources of this run, to their record.
        self.reading: dict[ObjectRef, Under] = {}
        #: What became of the messages (see :data:`SAID`), in the run's figures (``--summary-json``, ``/metrics``).
        self.counts: Counter[str] = stats.queue
        self.visibility = 30
        self._timer: Every | None = None
        self._warned = False

    # --- the planner's side -------------------------------------------------------------------------------

    def start(self) -> None:
        """Ask the queue its visibility timeout (a first request: a wrong URL or refused credentials stop the run
        here), and start the timer that extends the messages held."""
        self.visibility = max(1, self.queue.visibility_timeout())
        # A third of the timeout, so that two turns may fail before one runs out; at least every TICK_EVERY seconds,
        # so that a message whose object is done is deleted soon after.
        self._timer = Every(max(0.2, min(TICK_EVERY, self.visibility / 3)), self.tick, self._tick_failed)
        self._timer.start()

    def wait(self) -> int:
        """Seconds a receive waits: with --follow, long polling (at most the flush interval, so that partial
        batches still go out in time); without, a short wait that says the queue is empty."""
        if not self.follow:
            return CRON_POLL
        return max(1, min(LONGEST_POLL, int(self.flush_interval)))

    def take(self, wait: int) -> tuple[int, list[ObjectRef]]:
        """One receive: how many messages came, and the objects to read of them."""
        messages = self.queue.receive(wait)
        refs: list[ObjectRef] = []
        for message in messages:
            self.counts["received"] += 1
            refs.extend(self._take(message))
        return len(messages), refs

    def read(self, ref: ObjectRef, run: SourceRun | None, *, store_fault: bool = False) -> None:
        """Every job of an announced object was made (its hits may not be accepted yet); ``store_fault``: its
        fetch failed because of the store."""
        with self.lock:
            under = self.reading.pop(ref, None)
            if under is not None:
                under.run, under.read, under.store_fault = run, True, store_fault

    def _take(self, message: Message) -> list[ObjectRef]:
        if message.error:
            self._poison(message, f"{self.url} message {message.id}", message.error)
            return []
        parsed = message.parsed
        if parsed.note and not parsed.created:
            self.counts["test_events"] += 1
            self.on_event(Notice(f"{self.url}: {parsed.note}, deleted", detail=True))
            self._delete([message])
            return []
        ours = [a for a in parsed.created if self._wanted(a)]
        if not ours:
            self.counts["other_objects"] += 1
            if self.options.other == "delete":
                self._delete([message])
            return []
        held = Held(message)
        refs: list[ObjectRef] = []
        for announced in ours:
            key = (announced.url, announced.etag)
            with self.lock:
                under = self.under.get(key)
            if under is not None:
                self.counts["delivered_again"] += 1
            else:
                if self._done_before(announced):
                    self.counts["delivered_again"] += 1
                    continue
                under = Under(announced.url, announced.etag)
                ref = self._head(announced, under)
                if ref is None and not under.reason:
                    continue  # replaced since: the message of the new version brings it
                with self.lock:
                    self.under[key] = under
                    if ref is not None:
                        self.reading[ref] = under
                if ref is not None:
                    refs.append(ref)
            held.objects.append(under)
        if held.objects:
            with self.lock:
                self.held[message.id] = held
        if not held.objects:
            self._delete([message])
        return refs

    def _wanted(self, announced: Announced) -> bool:
        if not self.filters:
            return True
        return any(announced.bucket == name and matches(announced.key) for name, matches in self.filters)

    def _done_before(self, a: Announced) -> bool:
        state = self.state
        if state is None or self.force:
            return False
        if state.recently_done(a.url, a.etag):
            return True
        entry = state.object_entry(ObjectRef(a.url, a.key, a.size, a.etag, a.version).identity)
        return entry is not None and entry.done

    def _head(self, a: Announced, under: Under) -> ObjectRef | None:
        """The object as it is now (its version, its size); None, with ``under.reason`` set, when it cannot be
        read, or without when it was replaced since the message (an ETag of its own)."""
        try:
            ref = self.buckets.get(a.bucket).head(a.key)
        except InputError as exc:  # the store's fault (a 404 is None): unreachable, credentials, permissions
            under.reason, under.store_fault = exc.reason, True
            self._name(a.url, exc.reason)
            return None
        if ref is None:
            under.reason = "deleted since it was announced"
            self._name(a.url, under.reason)
            return None
        if a.etag and ref.etag and ref.etag != a.etag:
            self.counts["replaced_since"] += 1
            return None
        return ref

    # --- the timer's side ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Keep the messages held invisible for another visibility timeout; delete those whose objects are done."""
        with self.lock:
            messages = [held.message for held in self.held.values()]
        if messages:
            failed = self.queue.extend(messages, self.visibility)
            if failed and not self._warned:
                self._warned = True
                self.on_event(
                    Notice(
                        f"{self.url}: {len(failed)} message(s) could not be kept invisible; delivered again, "
                        "they are recognised and not imported twice",
                        warning=True,
                    )
                )
        if self.ledger is not None:
            self.settle(self.ledger.snapshot)

    def _tick_failed(self, exc: Exception) -> None:
        self.on_event(Notice(f"{self.url}: {exc}", warning=True))

    def settle(self, save: Callable[[], bool]) -> None:
        """Delete the messages whose objects are done (once ``save()`` wrote the state that says so) and those
        that cannot be processed and were handed out often enough; stop holding the others that cannot."""
        done: list[Held] = []
        failed: list[Held] = []
        with self.lock:
            for held in self.held.values():
                if not all(u.resolved for u in held.objects):
                    continue
                if any(u.failed for u in held.objects):
                    failed.append(held)
                elif all(u.done for u in held.objects):
                    done.append(held)
            for held in done + failed:
                del self.held[held.message.id]
                for u in held.objects:
                    self.under.pop((u.url, u.etag), None)
        for held in failed:
            for u in held.objects:
                if u.failed and not u.reason and u.run is not None:
                    self._name(u.url, self.stats.unreadable.get(u.url, "could not be read whole"))
            if any(u.store_fault for u in held.objects):
                self.counts["store_errors"] += 1  # left to come back, whatever its receive count
                self.on_event(Notice(f"{self.url}: message {held.message.id} left to come back", warning=True))
            else:
                self._give_up(held.message)
        if done and self.state is not None:
            objects = {id(u): u for held in done for u in held.objects}.values()
            self.state.remember([(u.url, u.etag, u.entry) for u in objects])
            if not save():  # not saved: held until a later save says they are done
                with self.lock:
                    for held in done:
                        self.held[held.message.id] = held
                        self.under.update({(u.url, u.etag): u for u in held.objects})
                return
            self._delete([held.message for held in done])
            self.counts["objects_imported"] += len(objects)

    def _poison(self, message: Message, name: str, reason: str) -> None:
        self._name(name, reason)
        self._give_up(message)

    def _give_up(self, message: Message) -> None:
        most = self.options.max_receives
        if most and message.receives >= most:
            self.counts["poison_deleted"] += 1
            self._delete([message])
            what = f"deleted after {message.receives} receives (--queue-max-receives)"
        else:
            self.counts["poison_left"] += 1
            what = (
                f"left to come back (received {message.receives} time(s); deleted at {most})"
                if most
                else "left to the queue's dead-letter policy"
            )
        self.on_event(Notice(f"{self.url}: message {message.id} {what}", warning=True))

    def _name(self, name: str, reason: str) -> None:
        first = name not in self.stats.unreadable
        self.stats.unreadable[name] = reason
        if first:
            self.on_event(SourceEvent(f"{name}: {reason}", source=name, change=Change.FAILED))

    def _delete(self, messages: list[Message]) -> None:
        if messages and not self.stats.dry_run:
            self.queue.delete(messages)

    # --- the end ------------------------------------------------------------------------------------------

    def close(self) -> None:
        """No more extensions (the messages held come back after their visibility timeout)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def finish(self, save: Callable[[], bool] | None) -> None:
        """The run ended well: every hit sent was accepted. Delete what is done, say what the queue brought."""
        self.close()
        if save is not None:
            self.settle(save)
        left = len(self.held)
        if left and save is None:
            self.on_event(Notice(f"{self.url}: {left} message(s) left: no state is kept, so none is deleted"))
        said = ", ".join(f"{n:,} {SAID[what]}" for what, n in self.counts.items() if what != "received" and n)
        self.on_event(Notice(f"{self.url}: {self.counts['received']:,} message(s)" + (f": {said}" if said else "")))
