"""What the command line shows: messages, the progress bar, -v lines, and the summaries."""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass
from typing import Any, TextIO

import click

from import_logs.events import Event, FileStarted, LineRejected, Notice, Progress
from import_logs.stats import Stats, result_line, summary_dict, summary_text


@dataclass
class Output:
    """Where the CLI writes: the summary to ``out``, messages and progress to ``err``."""

    out: TextIO
    err: TextIO
    bar: Any = None

    def message(self, text: str) -> None:
        """A line on stderr, above the progress bar when there is one."""
        if self.bar is not None:
            self.bar.write(text, file=self.err)
        else:
            click.echo(text, file=self.err)


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
                output.message(f"{event.name}:{event.lineno}: {event.reason}: {event.line[:300]}")
        elif isinstance(event, FileStarted):
            if verbose or show_progress:
                output.message(f"Parsing log {event.name} (format {event.format})...")
        elif isinstance(event, Notice) and (event.warning or (not quiet and (verbose or not event.detail))):
            output.message(f"import-logs: {event.message}")

    return sink


def report(output: Output, with_traceback: bool, text: str) -> None:
    """An error message (after the traceback, when asked for); called inside the ``except`` block."""
    close_bar(output)
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
    if text and not (quiet and not stats.lines and not failed and not stats.unreadable):
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
