"""What the command line shows: messages, the progress bar, -v lines, and the summaries."""

from __future__ import annotations

import json
import os
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

import click

from import_logs.events import Event, FileStarted, LineRejected, Notice, Progress
from import_logs.stats import Stats, result_line, summary_dict, summary_text

#: What a message starts with → (its level in ``--message-format json``, what is left out of it there).
_PREFIXES = (
    ("import-logs: error: ", "error", len("import-logs: error: ")),
    ("import-logs: internal error", "error", len("import-logs: ")),
    ("import-logs: ", "", len("import-logs: ")),
)


@dataclass
class Output:
    """Where the CLI writes: the summary to ``out``, messages and progress to ``err``. With ``json`` (the
    ``--message-format json`` of journald and log collectors) each message is one JSON object on a line: its
    time, level, message and the fields it names."""

    out: TextIO
    err: TextIO
    bar: Any = None
    json: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def message(self, text: str, *, level: str = "", **fields: Any) -> None:
        """A line on stderr, above the progress bar when there is one (from any thread). ``level``: error,
        warning or info (by default: error for ``import-logs: error: ...``, else info); ``fields``: what the
        JSON object carries beside the text (None values are left out)."""
        if self.json:
            text = _json_line(text, level, fields)
        with self._lock:
            if self.bar is not None:
                self.bar.write(text, file=self.err)
            else:
                click.echo(text, file=self.err)


def _json_line(text: str, level: str, fields: dict[str, Any]) -> str:
    for prefix, prefix_level, cut in _PREFIXES:
        if text.startswith(prefix):
            text, level = text[cut:], level or prefix_level
            break
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": level or "info",
        "message": text,
        **{key: value for key, value in fields.items() if value is not None},
    }
    return json.dumps(record, ensure_ascii=False, default=str)


def draw(output: Output, show_progress: bool, verbose: int, *, quiet: bool = False) -> Any:
    """The event sink: a tqdm bar on stderr, and the lines -v asks for."""
    last = {"bytes": 0}

    def sink(event: Event) -> None:
        if isinstance(event, Progress):
            if output.bar is not None:
                if event.bytes_total and output.bar.total != event.bytes_total:
                    output.bar.total = event.bytes_total
                output.bar.update(event.bytes_done - last["bytes"])
                last["bytes"] = event.bytes_done
                output.bar.set_postfix_str(f"{event.lines:,} lines, {event.kept:,} hits", refresh=False)
        elif isinstance(event, LineRejected):
            if verbose:
                output.message(
                    f"{event.name}:{event.lineno}: {event.reason}: {event.line[:300]}",
                    file=event.name,
                    line=event.lineno,
                    reason=event.reason,
                )
        elif isinstance(event, FileStarted):
            if verbose or show_progress:
                output.message(
                    f"Parsing log {event.name} (format {event.format})...", file=event.name, format=event.format
                )
        elif (
            isinstance(event, Notice)
            and event.message
            and (event.warning or (not quiet and (verbose or not event.detail)))
        ):
            output.message(f"import-logs: {event.message}", level="warning" if event.warning else "")

    return sink


def report(output: Output, with_traceback: bool, text: str) -> None:
    """An error message (after the traceback, when asked for); called inside the ``except`` block."""
    close_bar(output)
    if with_traceback and output.json:
        output.message(text, traceback=traceback.format_exc().rstrip())
        return
    if with_traceback:
        output.message(traceback.format_exc().rstrip())
    output.message(text)


def close_bar(output: Output) -> None:
    if output.bar is not None:
        output.bar.close()
        output.bar = None


def summaries(
    stats: Stats,
    json_path: str | None,
    summary_out: TextIO,
    output: Output,
    *,
    quiet: bool = False,
    outcome: dict[str, Any] | None = None,
    text: bool = True,
) -> None:
    """The text summary (or --quiet's one line) and --summary-json, which also carries ``outcome`` (exit code
    and error). --quiet prints nothing when nothing was read and nothing went wrong, so cron mails nothing."""
    failed = bool(outcome and outcome.get("error"))
    shown = text and not (quiet and not stats.lines and not failed and not stats.unreadable)
    if shown and output.json:  # one object, on stderr as every message
        output.message(result_line(stats), summary={**summary_dict(stats), **(outcome or {})})
    elif shown:
        click.echo(result_line(stats) if quiet else summary_text(stats), file=summary_out)
    if json_path:
        text_json = json.dumps({**summary_dict(stats), **(outcome or {})}, indent=2)
        if json_path == "-":
            click.echo(text_json, file=output.out)
        else:
            try:
                fd = os.open(json_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(fd, "w", encoding="utf-8") as f:
                    f.write(text_json + "\n")
            except OSError as exc:
                output.message(f"import-logs: error: --summary-json {json_path}: {exc.strerror}.")
