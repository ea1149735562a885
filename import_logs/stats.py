"""Counters of an import, and the summary as a pure function of them (text or JSON).

Every line read ends in exactly one bucket: sent (accepted by the server), skipped for a reason, invalid for a
reason, or not done because the import stopped early. The JSON keys are stable and documented in the README.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from import_logs.hits import Hits
from import_logs.reasons import Invalid, Skip

#: Rejected hits listed by file and line in the summary (all are counted).
REJECTED_SHOWN = 100


@dataclass
class Stats:
    """Mutable counters, merged from the workers by the main thread and updated by the lanes."""

    files: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    #: Hits that passed the filters and were encoded.
    kept: int = 0
    downloads: int = 0
    #: Hits sent in Matomo's bot mode (AI assistants' requests): in its AI Assistants reports, not visits.
    bot_requests: int = 0
    sent: int = 0
    batches: int = 0
    #: Hits the server answered for but refused as invalid, or dropped without saying which.
    rejected: int = 0
    dropped: int = 0
    #: Hits sent again after a timeout or a dropped connection: the server may have stored them twice.
    maybe_twice: int = 0
    #: (file, line, reason) of the first rejected hits.
    rejected_lines: list[tuple[str, int, str]] = field(default_factory=list)
    #: Hits not sent because their host (or logged site) has no site, per host.
    unknown_sites: Counter[str] = field(default_factory=Counter)
    #: Sites created by --add-sites-new-hosts: host → id.
    sites_created: dict[str, str] = field(default_factory=dict)
    #: Files that could not be read to their end (truncated, damaged, no valid line): name → why.
    unreadable: dict[str, str] = field(default_factory=dict)
    skipped: Counter[Skip] = field(default_factory=Counter)
    invalid: Counter[Invalid] = field(default_factory=Counter)
    #: Hits sent out of time order: later than --lateness in their own log, or a log far behind the others.
    late: int = 0
    #: Hits sent per site and UTC day: which days' reports a Matomo user rebuilds (site: its --idsite, or the
    #: host its site was found by).
    per_site_day: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: What happened to the sources (resumed, rotated, truncated, finished, failed): counted for /metrics.
    source_events: Counter[str] = field(default_factory=Counter)
    #: ``--queue``: what became of its messages (received, delivered_again, objects_imported, poison_deleted...).
    queue: Counter[str] = field(default_factory=Counter)
    #: Lines not read again because the state says they were imported before.
    already_imported: int = 0
    #: Hits the previous run may have had accepted without knowing (it stopped while sending): sent again.
    previous_in_flight: int = 0
    state_file: str = ""
    #: Sources read as streams (standard input, pipes): they have no place in the state.
    streams: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: --save-requests: where the requests were written instead of sent ("-": standard output).
    saved_to: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    #: Requests tried again (refused, not answered); the last such failure, and when (monotonic seconds). A
    #: success clears ``failing``.
    retries: int = 0
    failing: str = ""
    failed_at: float = 0.0
    #: When a batch was last accepted (Unix time; 0: never), and when a block was last merged or the followed
    #: files last looked at (monotonic seconds): what /healthz and the status line read.
    accepted_at: float = 0.0
    read_at: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_sent(
        self, hits: int, rejected: Sequence[tuple[str, int, str]] = (), dropped: int = 0, maybe_twice: int = 0
    ) -> None:
        """A batch the server answered: ``hits`` items, of which ``rejected`` refused and ``dropped`` lost;
        ``maybe_twice`` were sent again after an attempt the server may have received."""
        with self._lock:
            self.maybe_twice += maybe_twice
            self.sent += hits - len(rejected) - dropped
            self.rejected += len(rejected)
            self.dropped += dropped
            self.batches += 1
            self.accepted_at = time.time()
            self.failing = ""
            room = REJECTED_SHOWN - len(self.rejected_lines)
            if room > 0:
                self.rejected_lines.extend(list(rejected)[:room])

    def add_maybe_twice(self, hits: int) -> None:
        """Hits of a batch that failed, sent again after an attempt the server may have received."""
        with self._lock:
            self.maybe_twice += hits

    def count_days(
        self, hits: Hits, refused: set[int], site: str, day: Callable[[str, float], str] | None = None
    ) -> None:
        """The hits of a batch the server answered with success, by site and day (less those it refused): the
        day of ``day(site or host, time)`` where the tracker counts days in each site's time zone, else UTC's."""
        keys, times = hits.keys, hits.times
        counted: Counter[tuple[str, str]] = Counter()
        day_of = day or _utc_day
        if times and not keys and not refused and day_of(site, min(times)) == day_of(site, max(times)):
            counted[(site, day_of(site, times[0]))] = len(times)  # one site, one day: the usual batch
        else:
            for k, t in enumerate(times):
                if k not in refused:
                    key = keys[k] if keys else site
                    counted[(key, day_of(key, t))] += 1
        with self._lock:
            self.per_site_day.update(counted)

    def count_source_event(self, change: str) -> None:
        with self._lock:
            self.source_events[change] += 1

    def add_retry(self, problem: str) -> None:
        """A request failed and is tried again (from a lane's thread)."""
        with self._lock:
            self.retries += 1
            self.failing = problem
            self.failed_at = time.monotonic()

    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    def finish(self) -> None:
        if self.finished is None:
            self.finished = time.monotonic()


def summary_dict(stats: Stats) -> dict[str, Any]:
    """The figures of ``--summary-json``."""
    elapsed = stats.elapsed()
    skipped = sum(stats.skipped.values())
    invalid = sum(stats.invalid.values())
    return {
        "files": list(stats.files),
        "files_not_read_whole": dict(stats.unreadable),
        "formats": dict(stats.formats),
        "lines_parsed": stats.lines,
        "already_imported": stats.already_imported,
        "previous_run_in_flight": stats.previous_in_flight,
        "state_file": stats.state_file,
        "streams_without_state": list(stats.streams),
        "hits_kept": stats.kept,
        "hits_sent": stats.sent,
        "hits_not_sent": stats.kept - stats.sent - stats.rejected - stats.dropped if not stats.dry_run else 0,
        "hits_rejected": stats.rejected,
        "hits_dropped_by_server": stats.dropped,
        "hits_maybe_stored_twice": stats.maybe_twice,
        "late_hits": stats.late,
        "sent_per_site_day": _per_site_day(stats.per_site_day),
        "rejected_lines": [{"file": f, "line": n, "reason": r} for f, n, r in stats.rejected_lines],
        "unknown_hosts": dict(stats.unknown_sites.most_common()),
        "sites_created": dict(stats.sites_created),
        "downloads": stats.downloads,
        "bot_mode_requests": stats.bot_requests,
        "requests": stats.batches,
        "skipped": {reason.value: stats.skipped.get(reason, 0) for reason in Skip},
        "skipped_total": skipped,
        "invalid": {reason.value: stats.invalid.get(reason, 0) for reason in Invalid},
        "invalid_total": invalid,
        "dry_run": stats.dry_run,
        "elapsed_seconds": round(elapsed, 3),
        "lines_per_second": round(stats.lines / elapsed, 1),
        "hits_per_second": round((stats.kept if stats.dry_run else stats.sent) / elapsed, 1),
        **({"queue_messages": dict(stats.queue)} if stats.queue else {}),
    }


def _per_site_day(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (site, day), n in sorted(counts.items()):
        out.setdefault(site, {})[day] = n
    return out


#: UTC day of a Unix day number (the same few days repeat for every hit of an import).
_DAYS: dict[int, str] = {}


def _utc_day(site: str, t: float) -> str:
    return _day(t)


def _day(t: float) -> str:
    number = int(t // 86400)
    day = _DAYS.get(number)
    if day is None:
        day = _DAYS[number] = datetime.fromtimestamp(number * 86400, timezone.utc).strftime("%Y-%m-%d")
    return day


def summary_text(stats: Stats) -> str:
    """The summary printed at the end, in the spirit of the reference importers'."""
    d = summary_dict(stats)
    width = max(6, len(f"{max(d['lines_parsed'], 1):,}"))

    def row(n: int, text: str, indent: int = 4) -> str:
        return f"{' ' * indent}{n:>{width},} {text}"

    lines = ["", "Logs import summary", "-------------------"]
    files = len(d["files"])
    lines.append(row(d["lines_parsed"], f"lines parsed in {files} file{'s' if files != 1 else ''}"))
    if d["state_file"] and len(d["streams_without_state"]) < files:
        lines.append(row(d["already_imported"], f"lines skipped as already imported (state: {d['state_file']})"))
    for name in d["streams_without_state"]:
        lines.append(f"    {name}: a stream, with no place in the state: a re-run sends its lines again")
    if stats.dry_run:
        lines.append(row(d["hits_kept"], "requests kept by the filters (dry run: nothing was sent)"))
    elif stats.saved_to:
        where = "standard output" if stats.saved_to == "-" else stats.saved_to
        lines.append(row(d["hits_sent"], f"requests written to {where} (--save-requests: nothing sent)"))
    else:
        lines.append(row(d["hits_sent"], "requests imported successfully"))
        if d["hits_rejected"]:
            lines.append(row(d["hits_rejected"], "requests rejected by the server as invalid (listed below)"))
        if d["hits_dropped_by_server"]:
            lines.append(
                row(
                    d["hits_dropped_by_server"],
                    "requests the server dropped without an error (Matomo does on database lock timeouts)",
                )
            )
        if d["hits_not_sent"]:
            lines.append(row(d["hits_not_sent"], "requests kept but not imported (the import stopped early)"))
        if d["hits_maybe_stored_twice"]:
            lines.append(
                row(
                    d["hits_maybe_stored_twice"],
                    "requests sent again after a timeout or a dropped connection: may have been stored twice",
                )
            )
    if d["late_hits"]:
        lines.append(
            row(d["late_hits"], "requests sent out of time order (later than --lateness in their log; see README)")
        )
    lines.append(row(d["downloads"], "requests were downloads"))
    if d["bot_mode_requests"]:
        lines.append(
            row(d["bot_mode_requests"], "requests were AI assistants', sent in Matomo's bot mode (not visits)")
        )
    ignored = d["skipped_total"] + d["invalid_total"]
    lines.append(row(ignored, "requests ignored:"))
    for skip in Skip:
        if d["skipped"][skip.value]:
            lines.append(row(d["skipped"][skip.value], skip.text, 8))
    for invalid in Invalid:
        if d["invalid"][invalid.value]:
            lines.append(row(d["invalid"][invalid.value], f"invalid log lines: {invalid.text}", 8))
    if d["sent_per_site_day"] and not stats.saved_to:
        lines += ["", "Days with hits sent (rebuild these days' reports when the tracker archived them already)"]
        lines.append("-" * 86)
        for site, days in d["sent_per_site_day"].items():
            first, last = min(days), max(days)
            span = first if first == last else f"{first} to {last}"
            lines.append(
                f"    site {site or '(by host)'}: {sum(days.values()):,} hits, {plural(len(days), 'day')}: {span}"
            )
    if d["files_not_read_whole"]:
        lines += ["", "Files not read to their end: a later run reads them again from where they stand", "-" * 78]
        lines += [f"    {name}: {why}" for name, why in d["files_not_read_whole"].items()]
    if d["sites_created"]:
        lines += ["", "Sites created (--add-sites-new-hosts)", "-------------------------------------"]
        lines += [f"    {host}: {site}" for host, site in d["sites_created"].items()]
    if d["unknown_hosts"]:
        lines += [
            "",
            "Hosts with no site: their hits were not sent. Add the sites (or use --add-sites-new-hosts or",
            "--idsite-fallback), then import them with --include-host=HOST --force-reimport",
            "---------------------------------------------------------------------------------------------",
        ]
        lines += [row(n, host) for host, n in d["unknown_hosts"].items()]
    if d["rejected_lines"]:
        more = d["hits_rejected"] - len(d["rejected_lines"])
        lines += ["", "Requests rejected by the server", "-------------------------------"]
        lines += [f"    {r['file']}:{r['line']}: {r['reason']}" for r in d["rejected_lines"]]
        if more > 0:
            lines.append(f"    ... and {more:,} more")
    lines += [
        "",
        "Performance summary",
        "-------------------",
        f"    Total time: {d['elapsed_seconds']:.1f} seconds",
        f"    Lines parsed per second: {d['lines_per_second']:,.0f}",
        f"    Requests {'kept' if stats.dry_run else 'written' if stats.saved_to else 'imported'} per second: "
        f"{d['hits_per_second']:,.2f}",
    ]
    return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``1,204 new lines``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def result_line(stats: Stats) -> str:
    """The one line of ``--quiet``."""
    d = summary_dict(stats)
    if stats.dry_run:
        sent = f"{plural(d['hits_kept'], 'hit')} kept (dry run)"
    elif stats.saved_to:
        sent = f"{plural(d['hits_sent'], 'hit')} written (--save-requests)"
    else:
        sent = f"{plural(d['hits_sent'], 'hit')} sent"
    extra = ""
    if d["hits_rejected"] or d["hits_dropped_by_server"]:
        extra += f", {d['hits_rejected'] + d['hits_dropped_by_server']:,} rejected or dropped by the server"
    if d["hits_not_sent"]:
        extra += f", {d['hits_not_sent']:,} not sent"
    if d["unknown_hosts"]:
        extra += f", {sum(d['unknown_hosts'].values()):,} of hosts with no site"
    if d["files_not_read_whole"]:
        extra += f", {plural(len(d['files_not_read_whole']), 'file')} not read to their end"
    return (
        f"import-logs: {plural(d['lines_parsed'], 'new line')} in {plural(len(d['files']), 'file')}: {sent}, "
        f"{d['skipped_total']:,} skipped, {d['invalid_total']:,} invalid{extra}; {d['elapsed_seconds']:.1f} s"
    )


@dataclass(frozen=True)
class Live:
    """What only the running import knows (read by /metrics, /healthz and the status line, from their thread)."""

    #: Followed file → bytes written to it but not read yet.
    lag: dict[str, int] = field(default_factory=dict)
    #: Seconds since the oldest hit read but not yet accepted by the server was read (None: none waits).
    oldest_unaccepted: float | None = None
    #: Lanes with a batch queued or being sent, of ``lanes``.
    busy_lanes: int = 0
    lanes: int = 0
