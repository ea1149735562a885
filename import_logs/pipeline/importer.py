"""The spine of an import: sources → workers → ordered merge → lanes → backend, counted in :class:`Stats`.

``Importer(config).run()`` is the one entry point of the core. It raises :mod:`import_logs.errors` for what
stops an import and :class:`~import_logs.errors.Interrupted` once :meth:`Importer.interrupt` was called (the CLI
calls it on Ctrl-C and SIGTERM); either way ``importer.stats`` holds the figures so far
and the state file holds every line the server accepted.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import BinaryIO, TextIO

from import_logs.backends import Batch, Sender, SendResult, open_sender
from import_logs.backends.registry import backend
from import_logs.backends.sites import SiteMap
from import_logs.checkpoint.ledger import Ledger
from import_logs.checkpoint.state import StateFile
from import_logs.config import Config
from import_logs.errors import AuthError, ImportLogsError, Interrupted, ServerError
from import_logs.events import Change, Event, EventSink, LineRejected, Notice, Progress, SourceEvent, ignore
from import_logs.parsing.formats import FormatDef
from import_logs.parsing.timeparse import resolve_zone
from import_logs.pipeline.choose import forced_format
from import_logs.pipeline.groups import check_identity
from import_logs.pipeline.inputs import inputs_of
from import_logs.pipeline.lanes import Lanes
from import_logs.pipeline.merge import merge_block
from import_logs.pipeline.modes import state_file_for
from import_logs.pipeline.newdays import NewDays, for_sites
from import_logs.pipeline.order import InOrder
from import_logs.pipeline.plan import Planner
from import_logs.pipeline.pool import results, shutdown, start_workers
from import_logs.pipeline.queue_run import QueueRun
from import_logs.pipeline.runs import SourceRun
from import_logs.pipeline.worker import BlockResult
from import_logs.reasons import Invalid, Skip
from import_logs.sources.kinds import Source
from import_logs.sources.marks import Control, Ended
from import_logs.sources.objects import ObjectPattern
from import_logs.stats import Live, Stats

#: Seconds the requests under way get to end when the import is asked to stop.
ABORT_WAIT = 1.5


class Importer:
    def __init__(
        self,
        config: Config,
        *,
        on_event: EventSink = ignore,
        stdin: BinaryIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.config = config
        self._sink = on_event
        self.stdin = stdin
        self.stdout = stdout
        self.stats = Stats(dry_run=config.dry_run and not config.save_requests, saved_to=config.save_requests or "")
        self.stop = threading.Event()
        #: The signal that asked the import to stop (see :meth:`interrupt`).
        self.interrupted: int | None = None
        self.sources: list[Source] = []
        #: Inputs naming objects of a store (read after the files).
        self.objects: list[ObjectPattern] = []
        self.state: StateFile | None = None
        self.ledger: Ledger | None = None
        #: The planning of this run's sources (where each was resumed, which cannot be read whole).
        self._planner: Planner | None = None
        self._bytes_total = 0
        #: Bytes of plain files merged so far.
        self._bytes_merged = 0
        self._lanes: Lanes | None = None
        #: The hits of every source in one time order, on their way to the lanes.
        self._order: InOrder | None = None
        self._sender: Sender | None = None
        #: Asked to stop twice: the requests under way are not waited for.
        self._hurry = False
        #: A batch failed that may have reached the server in part: the run does not end clean.
        self._uncertain = False
        #: Sites by host name (no --idsite): set once the sender says so.
        self._sites: SiteMap | None = None
        #: The day of a hit as the tracker counts it (site or host, time) when not UTC's (Matomo: the site's time zone).
        self._day_of: Callable[[str, float], str] | None = None
        #: --queue: the messages of this run.
        self._queue: QueueRun | None = None

    def on_event(self, event: Event) -> None:
        """Every event of the run goes out here: those about a source are counted too (``/metrics``)."""
        if isinstance(event, SourceEvent):
            self.stats.count_source_event(event.change.value)
        self._sink(event)

    def interrupt(self, signum: int) -> None:
        """Ask the import to stop; safe to call from a signal handler (it only sets flags). The import stops
        reading, gives the requests under way a moment (then ends them, whatever the server does), saves the
        state and raises :class:`Interrupted`. Asked again, it does not wait for them at all."""
        if self.interrupted is not None:
            self._hurry = True
            if self._sender is not None:
                self._sender.abort()
            return
        self.interrupted = signum
        self.stop.set()

    def _check_interrupted(self) -> None:
        if self.interrupted is not None:
            raise Interrupted(self.interrupted)

    # --- the run ------------------------------------------------------------------------------------------

    def run(self) -> Stats:
        c = self.config
        self.sources, self.objects = inputs_of(c, self.stop, self.on_event, self._check_interrupted)
        self.stats.files = [s.name for s in self.sources]
        self._bytes_total = sum(s.size or 0 for s in self.sources)
        forced = forced_format(c)
        if forced is not None:  # a named format is checked before the state, the workers and the sender
            check_identity(forced, c, where="--log-format-regex" if c.formats.regex else "--log-format-name")
        resolve_zone(c.formats.timezone)  # a wrong --timezone stops here, before anything is sent
        if c.request_limit is not None:
            self.on_event(Notice(f"--debug-request-limit {c.request_limit}: a trial run, no state file is kept"))
            self.state = None
        else:
            self.state = state_file_for(
                c, read_only=self.stats.dry_run, on_wait=lambda text: self.on_event(Notice(text, warning=True))
            )
        with self.state or contextlib.nullcontext():
            if self.state is not None:
                self.stats.state_file = self.state.path
                if not self.state.previous_clean and self.state.previous_in_flight:
                    self.stats.previous_in_flight = self.state.previous_in_flight
                    self.on_event(
                        Notice(
                            f"the previous run stopped while sending: up to {self.state.previous_in_flight} of its "
                            "hits may have been accepted without it knowing, and are sent again now.",
                            warning=True,
                        )
                    )
            self._run(forced)
        return self.stats

    def _site_days(self, sender: Sender, idsite: str) -> NewDays | None:
        """A tracker that counts days per site, in the site's time zone: each hit's day for the summary; and with
        several lanes, the gate that sends the first request of each new (site, day) alone."""
        if not backend(self.config.backend.name).site_days:
            return None
        site_of = self._sites.site if self._sites is not None else None
        self._day_of, gate = for_sites(sender.site_zone, site_of, idsite, self.config.backend.recorders)
        if gate is not None:
            self.on_event(
                Notice(
                    f"{self.config.backend.recorders} recorders: the first request of each new site and day (in the "
                    "site's time zone) goes alone, so that Matomo makes one fingerprint salt for it and keeps each "
                    "visitor's visit whole",
                    detail=True,
                )
            )
        return gate

    def _run(self, forced: FormatDef | None) -> None:
        c = self.config
        # The sender checks its options (--url, the credentials) before any process starts: a pool started and
        # torn down at once can end the interpreter with a traceback after the message.
        sender = self._sender = open_sender(c, stop=self.stop, on_retry=self._retrying, stdout=self.stdout)
        executor: ProcessPoolExecutor | None = None
        window: deque[Future[BlockResult] | Control] = deque()
        try:
            # The worker processes start now, while the sender signs in and the format is detected.
            executor = start_workers(c.workers) if c.workers > 1 else None
            self._check_interrupted()
            spec = sender.prepare()
            self._check_interrupted()
            if spec.per_hit_site and not self.stats.dry_run:
                self._sites = SiteMap(sender, c.backend, self.stats, self.on_event)
            payload = c.backend.payload_size or sender.default_payload_size
            if self.state is not None and not self.state.read_only:
                # What this run may leave in flight, plus what the previous run left that this one may not resend
                # before it stops in turn: each may then be stored once more.
                carried = 0 if self.state.previous_clean else self.state.previous_in_flight
                self.ledger = Ledger(self.state, in_flight_bound=max(1, c.backend.recorders) * payload + carried)
            if not self.stats.dry_run:
                self._lanes = Lanes(
                    c.backend.recorders,
                    payload,
                    sender.send,
                    self.on_sent,
                    self.stop,
                    self.stats.files,
                    pause=c.http.sleep_between,
                    on_failed=self.on_failed,
                    new_days=self._site_days(sender, spec.idsite),
                )
            self._planner = Planner(
                c,
                self.stats,
                self.on_event,
                state=self.state,
                ledger=self.ledger,
                spec=spec,
                stdin=self.stdin,
                stop=self.stop,
            )
            if c.queue.url:
                self._queue = self._planner.queue = QueueRun(
                    c, self.stats, self.on_event, self.objects, state=self.state, ledger=self.ledger
                )
            if self._lanes is not None:
                # Following, a log's disorder is put back in order within the flush interval at most: hits reach
                # the tracker within seconds.
                lateness = min(c.lateness, c.follow.flush_interval) if c.follow.enabled else c.lateness
                self._order = InOrder(self._lanes.add, lateness, self.on_event, self.stats.files)
                self._planner.waiting_for = self._order.waiting_for
                self._planner.opening = self._order.open
            jobs = self._planner.jobs(self.sources, forced, self.objects)
            try:
                for result in results(jobs, executor, c.workers, window):
                    if self.interrupted is not None:
                        break
                    if isinstance(result, Control):
                        if not self._control(result):
                            break
                    elif not self._merge(result):
                        break
            finally:
                jobs.close()
            self._check_interrupted()
            if self._order is not None:
                self._order.flush()
            if self._lanes is not None:
                self._lanes.close()
            self._check_interrupted()  # the lanes dropped what was left once asked to stop
            if self._queue is not None:  # its messages whose objects are done are deleted once the state says so
                self._queue.finish(self._save_clean if self.ledger is not None else None)
            if self.ledger is not None:
                self.ledger.save(clean=True)
        except BaseException as exc:
            self.stop.set()
            if self._queue is not None:
                self._queue.close()
            clean = True
            if self._lanes is not None:
                if self.interrupted is not None and not self._lanes.idle() and not self._hurry:
                    self.on_event(
                        Notice(
                            f"stopping: waiting up to {ABORT_WAIT:g} s for the requests under way, then saving "
                            "the state",
                            warning=True,
                        )
                    )
                self._lanes.abort(0.0 if self._hurry else ABORT_WAIT)
                clean = self._lanes.idle() and not self._uncertain
                if not clean:  # a server that does not answer must not hold the stop: the journal makes it safe
                    sender.abort()
                    self._lanes.wait(ABORT_WAIT)
            if self.ledger is not None:
                self.ledger.save(clean=clean)
                self.ledger.close()
            if self.interrupted is not None and not isinstance(exc, Interrupted):
                raise Interrupted(self.interrupted) from None  # a retry cut short by the stop, say
            raise
        finally:
            if self._queue is not None:
                self._queue.close()
            if self._order is not None:  # a stopped run's summary counts them too
                self.stats.late = self._order.late
            if executor is not None:
                shutdown(executor, window)
            sender.close()
            self.stats.finish()

    def _save_clean(self) -> bool:
        assert self.ledger is not None
        self.ledger.save(clean=True)
        return True

    def _retrying(self, problem: str) -> None:
        self.stats.add_retry(problem)
        self.on_event(Notice(problem))

    def live(self) -> Live:
        """What the running import knows beyond its counters (safe to call from another thread)."""
        lanes, planner = self._lanes, self._planner
        follower = planner.follower if planner is not None else None
        oldest = lanes.oldest() if lanes is not None else None
        return Live(
            lag=follower.lag() if follower is not None else {},
            oldest_unaccepted=None if oldest is None else max(0.0, time.monotonic() - oldest),
            busy_lanes=lanes.busy() if lanes is not None else 0,
            lanes=lanes.count if lanes is not None else 0,
        )

    def on_sent(self, batch: Batch, result: SendResult | None) -> None:
        """The lanes' callback for each batch the server answered with success (from a lane's thread): its
        refused and dropped hits reported and counted, and its lines handed to the ledger as accepted."""
        rejected: list[tuple[str, int, str]] = []
        dropped = 0
        if result is not None:
            for index, reason in result.rejected:
                name, lineno = batch.where(index)
                rejected.append((name, lineno, reason))
                self.on_event(Notice(f"{name}:{lineno}: {reason}"))
            dropped = result.dropped
            if dropped:
                name, lineno = batch.where()
                self.on_event(
                    Notice(
                        f"the server stored {len(batch.items) - len(rejected) - dropped} of the {len(batch.items)} "
                        f"hits of the batch starting at {name}:{lineno} and refused none: {dropped} were dropped "
                        "without an error (Matomo does so on database lock timeouts; check its logs)."
                    )
                )
        self.stats.add_sent(len(batch.items), rejected, dropped, result.maybe_twice if result is not None else 0)
        refused = {index for index, _ in result.rejected} if result is not None else set()
        self.stats.count_days(batch.hits, refused, self.config.backend.idsite or "", self._day_of)
        if self.ledger is not None:
            self.ledger.accept(batch.refs)

    def on_failed(self, batch: Batch, error: ImportLogsError) -> None:
        """The lanes' callback for a batch whose sending failed (from a lane's thread). Unless the server refused
        the credentials, part of it may have been stored (a timeout, a dropped connection, Matomo's part of a
        split batch): the state says a batch was in flight, and the copies of its retries are counted."""
        if not isinstance(error, AuthError):
            self._uncertain = True
        if isinstance(error, ServerError) and error.resent:
            self.stats.add_maybe_twice(len(batch.items) * error.resent)

    def _control(self, mark: Control) -> bool:
        """``--follow``: every block read so far is merged. A source that ended is finished; partial batches
        that waited ``--flush-interval`` go out. False once the lanes stop."""
        self.stats.read_at = time.monotonic()
        if isinstance(mark, Ended):
            self._finish_source(mark.source)
            return self._order is None or self._order.end(mark.source)
        wait = self.config.follow.flush_interval
        if self._order is not None and not self._order.quiet(wait):
            return False
        return self._lanes is None or self._lanes.flush(wait)

    def _finish_source(self, src: int) -> None:
        """A source ended: every block of it was merged. Its checkpoint may be done, and its record goes."""
        assert self._planner is not None
        run = self._planner.ended(src)
        if run is None:  # nothing of it was read (imported before, empty)
            return
        if run.bad and not run.readable:
            self._no_valid_line(run)
        if not run.incomplete and self.ledger is not None and self.ledger.tracks(src):
            self.ledger.finish_source(src)
        if not run.incomplete:
            self.on_event(SourceEvent("", source=run.source.name, change=Change.FINISHED))

    def _no_valid_line(self, run: SourceRun) -> None:
        """Every line of the source was invalid: say so, and leave its checkpoint where it was (not done)."""
        name = run.source.name
        run.incomplete = True
        self.stats.unreadable[name] = (
            f"none of its {run.bad:,} lines is a valid {self.stats.formats.get(name) or 'log'} line, so it was not "
            "marked as imported"
        )
        self.on_event(
            SourceEvent(
                f"{name}: none of its {run.bad:,} lines could be read as {self.stats.formats.get(name)}; it is not "
                "marked as imported. Run with -v to see them, and check --log-format-name, --log-format-regex or "
                "--log-date-format.",
                source=name,
                change=Change.FAILED,
            )
        )
        if self.ledger is not None and self.ledger.tracks(run.source.index):
            self.ledger.rewind(run.source.index, run.resume.offset, run.resume.line)

    def _cut_short(self, run: SourceRun) -> None:
        """The file was cut short while it was read (copytruncate): it ends, for this run, before this block.

        Nothing of this block or of the later ones counts, so the checkpoint stays at the last block read whole,
        and the next run reads on from there in the rotated copy (its content, so its fingerprint, is the same).
        """
        if run.cut:
            return
        run.cut = True
        self.on_event(
            SourceEvent(
                f"{run.source.name}: became shorter or was removed while it was read (rotated by "
                f"copytruncate, or compressed?); it was imported up to line {run.line_base:,}, and the "
                "next run reads on from there in the rotated copy.",
                source=run.source.name,
                change=Change.TRUNCATED,
            )
        )

    def _merge(self, r: BlockResult) -> bool:
        """Count a block's lines and pass its hits on (see :func:`merge_block`); False once the lanes stop."""
        stats = self.stats
        stats.read_at = time.monotonic()
        planner = self._planner
        assert planner is not None
        src = r.source
        run = planner.runs[src]
        if src >= len(self.stats.files):  # a source added as the run went (the lanes name it by this list)
            self.stats.files.extend(s.name for s in self.sources[len(self.stats.files) :])
        if r.short or run.cut:
            self._cut_short(run)
            return True
        invalid = sum(r.invalid.values())
        run.bad += invalid - r.invalid.get(Invalid.EMPTY, 0)
        if r.lines > invalid:
            run.readable = True
        base = run.line_base
        run.line_base = base + r.lines
        name = run.source.name
        for index, reason, line in r.rejected:
            self.on_event(LineRejected(name, base + index + 1, reason, line))
        limit = self.config.request_limit
        room = None if limit is None else max(0, limit - run.hits)
        m = merge_block(r, base, acked=run.resume.acked, skip=self.config.state.skip, room=room)
        run.hits += len(m.hits)
        stats.lines += r.lines - len(m.done_before)  # lines read again only to find the rest: already imported
        stats.already_imported += len(m.done_before)
        stats.kept += r.kept - len(m.done_before) - m.skipped_by_option - m.over_limit
        stats.downloads += r.downloads
        stats.bot_requests += r.bot_requests
        stats.skipped.update(r.skipped)
        stats.invalid.update(r.invalid)
        if m.skipped_by_option:
            stats.skipped[Skip.SKIP_OPTION] += m.skipped_by_option
        if m.over_limit:
            stats.skipped[Skip.REQUEST_LIMIT] += m.over_limit
        hits = m.hits
        if self._sites is not None and hits:
            hits = self._sites.put(hits)
        if self.ledger is not None and self.ledger.tracks(src):
            # Recorded before any of its hits can be accepted.
            self.ledger.add_block(src, r.start, r.end, base, r.lines, hits.lines, m.done_before)
        if self._order is not None and hits and not self._order.add(src, hits):
            return False
        if not run.source.compressed and not run.compressed:
            self._bytes_merged += r.end - r.start
        done = planner.bytes_skipped + self._bytes_merged + planner.compressed_read()
        self.on_event(Progress(stats.lines, stats.kept, stats.sent, done, self._bytes_total + planner.bytes_listed))
        return True
