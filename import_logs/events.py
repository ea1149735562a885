"""What the core tells whoever draws: the CLI turns these into a progress bar and messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class FileStarted:
    name: str
    format: str
    size: int | None


@dataclass(frozen=True)
class Progress:
    lines: int
    kept: int
    sent: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class LineRejected:
    """An invalid or skipped line (only emitted with -v)."""

    name: str
    lineno: int
    reason: str
    line: str


@dataclass(frozen=True)
class Notice:
    """A warning or a retry: worth a line on stderr, not worth stopping for.

    ``detail``: shown only with -v. ``warning``: shown even with --quiet (what a cron job must not miss).
    """

    message: str
    detail: bool = False
    warning: bool = False


class Change(str, Enum):
    """What happened to a source, for whoever counts (``/metrics``)."""

    RESUMED = "resumed"  # read on from where an earlier run left it, or from its rotated copy
    ROTATED = "rotated"  # a followed log was renamed: its old file read to its end, the new one followed
    TRUNCATED = "truncated"  # copytruncate, or a file that became shorter while it was read
    FINISHED = "finished"  # every block of it merged
    FAILED = "failed"  # it could not be read whole (damaged, removed, no valid line)


@dataclass(frozen=True)
class SourceEvent(Notice):
    """A :class:`Notice` about one source, typed by its :class:`Change` (a ``message`` of "" is counted, not
    shown)."""

    source: str = ""
    change: Change = Change.RESUMED


Event = FileStarted | Progress | LineRejected | Notice
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: the core runs silently."""
