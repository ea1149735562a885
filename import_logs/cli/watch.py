"""Watching a running import: whether it is healthy, and the status line it writes every --status-interval.

Both read the import's counters (:class:`~import_logs.stats.Stats`) and what only the running import knows
(:meth:`~import_logs.pipeline.Importer.live`) when they are asked, from a thread of their own: the import itself
does nothing more for them. ``/metrics`` (:mod:`import_logs.cli.metrics`) reads the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from import_logs.cli.output import Output
from import_logs.reasons import Invalid
from import_logs.stats import Live, Stats

#: --unhealthy-after's default: a tracker that accepts nothing for this long makes /healthz answer 503.
UNHEALTHY_AFTER = 120.0
#: --status-interval's default under --follow (without it, no status line: cron mails whatever a job prints).
STATUS_EVERY_FOLLOW = 300.0


def health(stats: Stats, live: Live, threshold: float, *, ended: str = "") -> str:
    """``""`` while the import reads and sends; else why not, in a few words (what /healthz says with its 503).

    Unhealthy: a hit read has waited more than ``threshold`` seconds to be accepted (the tracker refuses it, or
    does not answer), or nothing was read for that long while nothing waits for the tracker (the reading is
    stuck; --follow looks at its files every --follow-poll), or the import stopped on an error."""
    if ended:
        return f"stopped: {ended}"
    waiting = live.oldest_unaccepted
    if waiting is not None and waiting > threshold:
        return f"the tracker has accepted no hit for {waiting:.0f} s: {stats.failing or 'no answer yet'}"
    idle = time.monotonic() - stats.read_at
    if waiting is None and idle > threshold:
        if stats.failing:  # signing in, before any hit was read
            return f"the server has not answered for {idle:.0f} s: {stats.failing}"
        return f"no log read for {idle:.0f} s"
    return ""


def _span(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class StatusLine:
    """A line every ``every`` seconds: hits sent since the last line, the lag, the errors, health when failing."""

    def __init__(self, stats: Stats, live: Callable[[], Live], output: Output, every: float, threshold: float) -> None:
        self.stats = stats
        self.live = live
        self.output = output
        self.every = every
        self.threshold = threshold
        self._last = self._figures()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-logs-status", daemon=True)

    def __enter__(self) -> StatusLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _figures(self) -> tuple[int, int, int, int]:
        s = self.stats
        return s.sent, s.retries, s.rejected + s.dropped, sum(s.invalid.get(reason, 0) for reason in Invalid)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.write()

    def write(self) -> None:
        figures = self._figures()
        sent, retries, refused, invalid = (now - before for now, before in zip(figures, self._last, strict=True))
        self._last = figures
        live = self.live()
        lag = sum(live.lag.values())
        unhealthy = health(self.stats, live, self.threshold)
        text = (
            f"import-logs: status: {sent:,} hits sent in the last {_span(self.every)} ({figures[0]:,} in all), "
            f"{lag:,} bytes not read yet; {retries:,} retries, {refused:,} hits refused or dropped by the server, "
            f"{invalid:,} invalid lines"
        )
        if live.oldest_unaccepted is not None and live.oldest_unaccepted >= 1:
            text += f"; the oldest hit not yet accepted was read {live.oldest_unaccepted:.0f} s ago"
        if unhealthy:
            text += f"; unhealthy: {unhealthy}"
        self.output.message(
            text,
            level="warning" if unhealthy else "info",
            hits_sent=sent,
            hits_sent_total=figures[0],
            lag_bytes=lag,
            retries=retries,
            hits_refused=refused,
            invalid_lines=invalid,
            oldest_unaccepted_seconds=live.oldest_unaccepted,
            unhealthy=unhealthy or None,
        )
