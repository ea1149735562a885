"""The command line: options → :class:`Config` → :class:`Importer` → a summary and an exit code.

The CLI package (this command, ``settings`` and ``output``) is the only place that imports click and tqdm, reads
the environment and the terminal, and decides exit codes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any, TextIO

import click

from import_logs import __version__
from import_logs.cli.command import HELP, GroupedCommand
from import_logs.cli.options import SECTIONS
from import_logs.cli.output import Output, close_bar, draw, report, summaries
from import_logs.cli.settings import UNBOUNDED_ATTEMPTS, build_config, warnings
from import_logs.cli.watch import STATUS_EVERY_FOLLOW, StatusLine
from import_logs.config import Config
from import_logs.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    FormatError,
    ImportLogsError,
    InputError,
    Interrupted,
    OutputClosed,
    ServerError,
    StateFileError,
    StateLockedError,
    WorkerError,
)
from import_logs.pipeline import Importer, dump_format, reset_state, show_state

#: The one place where errors become exit codes (subclasses first).
EXIT_CODES: tuple[tuple[type[ImportLogsError], ExitCode], ...] = (
    (OutputClosed, ExitCode.OUTPUT_CLOSED),
    (ConfigError, ExitCode.USAGE),
    (InputError, ExitCode.INPUT),
    (FormatError, ExitCode.INPUT),
    (AuthError, ExitCode.AUTH),
    (ServerError, ExitCode.SERVER),
    (WorkerError, ExitCode.FAILURE),
    (StateLockedError, ExitCode.BUSY),
    (StateFileError, ExitCode.STATE),
)


def exit_code_for(exc: ImportLogsError) -> ExitCode:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return ExitCode.FAILURE


@click.command(
    cls=GroupedCommand,
    sections=SECTIONS,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.argument("files", nargs=-1)
@click.version_option(__version__, "-V", "--version", prog_name="import-logs")
def main(**options: Any) -> None:
    _quiet_resource_tracker()
    output = Output(sys.stdout, sys.stderr)
    owned: TextIO | None = None
    if options["output"]:
        fd = os.open(options["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # it holds IPs and URLs
        owned = open(fd, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        output = Output(owned, owned)
    try:
        code = run(options, output)
    finally:
        if owned is not None:
            owned.close()
    sys.exit(int(code))


#: multiprocessing's resource tracker (a process of its own, started with the worker pool) unlinks the pool's
#: semaphores when the importer dies without closing them (kill -9, the OOM killer), which is right, and warns
#: of them on the stderr it shares with the importer, which cron mails as if something had gone wrong. It gets
#: the interpreter's -W options when it starts: this one hides that warning, in it only; the cleanup is done.
_TRACKER_WARNING = "ignore:resource_tracker:UserWarning:multiprocessing.resource_tracker"


def _quiet_resource_tracker() -> None:
    if _TRACKER_WARNING not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_WARNING)


def run(options: dict[str, Any], output: Output) -> ExitCode:
    """One run of the command; returns the exit code. Separate from ``main`` so that tests can call it."""
    output.json = options["message_format"] == "json"
    if not options["files"] and not (options["show_state"] or options["reset_state"] or options["queue"]):
        output.message("import-logs: error: no log file given. Name the files (or - for standard input); see --help.")
        return ExitCode.USAGE
    try:
        config = build_config(options)
    except OSError as exc:
        output.message(f"import-logs: error: {exc.filename}: {exc.strerror}. Check the path.")
        return ExitCode.USAGE
    except ImportLogsError as exc:
        output.message(f"import-logs: error: {exc}")
        return exit_code_for(exc)
    if options["show_state"] or options["reset_state"] or options["dump_log_regex"]:
        return _inspect(config, options, output)
    return _import(config, options, output)


def _inspect(config: Config, options: dict[str, Any], output: Output) -> ExitCode:
    """--dump-log-regex, --show-state, --reset-state: say what they find, import nothing."""
    try:
        if options["dump_log_regex"]:
            said = dump_format(config, sys.stdin.buffer)
        else:
            said = show_state(config) if options["show_state"] else reset_state(config)
    except ImportLogsError as exc:
        output.message(f"import-logs: error: {exc}")
        return exit_code_for(exc)
    click.echo("\n".join(said), file=output.out)
    return ExitCode.OK


def _import(config: Config, options: dict[str, Any], output: Output) -> ExitCode:
    """An import: warnings first, a progress bar when asked, the import, its exit code and its summary."""
    verbose = max(options["verbose"], options["debug"])
    quiet = options["quiet"]
    if not quiet:
        for text in warnings(options):
            output.message(f"import-logs: {text}")
        if options["retry_max_attempts"] is not None and options["retry_max_attempts"] <= 0:
            output.message(
                f"import-logs: --retry-max-attempts {options['retry_max_attempts']} would retry forever; "
                f"using {UNBOUNDED_ATTEMPTS} attempts."
            )
    show = options["show_progress"]
    if show is None:
        show = output.err.isatty()
    show = show and not quiet and not output.json
    importer = Importer(
        config, on_event=draw(output, show, verbose, quiet=quiet), stdin=sys.stdin.buffer, stdout=output.out
    )
    with contextlib.ExitStack() as watching:
        try:
            watched = _watch(watching, importer, config, options, output)
        except ImportLogsError as exc:  # the listener's address: before anything is read
            output.message(f"import-logs: error: {exc}")
            return exit_code_for(exc)
        if show:
            _start_bar(output, options["show_progress_delay"])
        code, error = _run_importer(importer, output, traceback=verbose > 1 or options["show_traceback"])
        if watched is not None:
            watched.ended = error
    stats = importer.stats
    if code == ExitCode.OUTPUT_CLOSED:  # quietly: only a --summary-json file, for whoever asked for one
        if options["summary_json"] not in (None, "-"):
            summaries(stats, options["summary_json"], output.err, output, text=False, outcome={"exit_code": int(code)})
        return code
    if code == ExitCode.OK and stats.unreadable:
        code = ExitCode.INPUT  # the other files were imported; these wait (named in the summary)
    elif code == ExitCode.OK and stats.lines == 0:
        code = ExitCode.NOTHING_NEW
    # --summary-json=- is the only thing on stdout; --save-requests=- writes the requests there.
    to_stdout = config.save_requests == "-" or options["summary_json"] == "-"
    summaries(
        stats,
        options["summary_json"],
        output.err if to_stdout else output.out,
        output,
        quiet=quiet,
        outcome={"exit_code": int(code), "error": error or None},
        text=bool(stats.formats),  # an error before any file was read: no summary of zeros
    )
    return code


def _watch(
    stack: contextlib.ExitStack, importer: Importer, config: Config, options: dict[str, Any], output: Output
) -> Any:
    """--metrics-listen's listener (bound now, so that a wrong address stops the run before it reads) and
    --status-interval's line, both until ``stack`` closes; the listener's view of the import (None without)."""
    threshold = options["unhealthy_after"]
    every = options["status_interval"]
    if every is None:
        every = STATUS_EVERY_FOLLOW if config.follow.enabled else 0.0
    watched = None
    if options["metrics_listen"]:
        from import_logs.cli.metrics import Listener, Watched  # prometheus_client is loaded only when asked for

        labels = {"version": __version__, "backend": config.backend.name, "site": config.backend.idsite or ""}
        watched = Watched(importer.stats, importer.live, threshold, labels)
        listener = stack.enter_context(Listener(options["metrics_listen"], watched))
        if not options["quiet"]:
            output.message(f"import-logs: serving {listener.url}/metrics and {listener.url}/healthz", url=listener.url)
    if every:
        stack.enter_context(StatusLine(importer.stats, importer.live, output, every, threshold))
    return watched


def _start_bar(output: Output, every: float) -> None:
    from tqdm import tqdm

    output.bar = tqdm(
        total=None, unit="B", unit_scale=True, unit_divisor=1024, file=output.err, dynamic_ncols=True, mininterval=every
    )


def _run_importer(importer: Importer, output: Output, *, traceback: bool) -> tuple[ExitCode, str]:
    """Run the import with Ctrl-C and SIGTERM asking it to stop; its exit code and error ("" when none)."""
    previous = {signum: signal.signal(signum, _stopper(importer)) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        importer.run()
    except OutputClosed as exc:  # `| head`: nothing to say, as a Unix tool on SIGPIPE
        _quiet_stdout()
        return ExitCode.OUTPUT_CLOSED, str(exc)
    except ImportLogsError as exc:
        report(output, traceback, f"import-logs: error: {exc}")
        return exit_code_for(exc), str(exc)
    except Exception as exc:  # a bug: say so in one line, and show the traceback on request
        report(output, traceback, f"import-logs: internal error: {exc!r}. Run again with --traceback and report it.")
        return ExitCode.FAILURE, f"internal error: {exc!r}"
    except KeyboardInterrupt as exc:  # Interrupted, raised by the core once a signal asked it to stop
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        error = "stopped by " + ("SIGTERM" if code == ExitCode.TERMINATED else "Ctrl-C")
        close_bar(output)
        output.message(f"import-logs: {error}.")
        return code, error
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        close_bar(output)
    return ExitCode.OK, ""


def _quiet_stdout() -> None:
    """Standard output is a closed pipe: point it at /dev/null, so that the flush at exit says nothing either
    (Python's advice for SIGPIPE)."""
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test's capture): nothing will flush there at exit
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def _stopper(importer: Importer) -> Any:
    """The handler of Ctrl-C and SIGTERM: ask the import to stop at a safe point (it raises Interrupted there).
    A second signal ends the requests under way at once instead of waiting for them (the summary and the state
    are still written); a third ends the process, as the default action does (the state journal is kept as
    after a kill -9, so that is safe too)."""
    seen = 0

    def handler(signum: int, _frame: object) -> None:
        nonlocal seen
        seen += 1
        if seen > 2:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        importer.interrupt(signum)

    return handler
