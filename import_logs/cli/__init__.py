"""The command line: options → :class:`Config` → :class:`Importer` → a summary and an exit code.

The CLI package (this command, ``settings`` and ``output``) is the only place that imports click and tqdm, reads
the environment and the terminal, and decides exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO

import click

from import_logs import __version__
from import_logs.backends import BACKENDS
from import_logs.cli import settings_file
from import_logs.cli.command import HELP, GroupedCommand
from import_logs.cli.output import Output, close_bar, draw, report, summaries
from import_logs.cli.settings import UNBOUNDED_ATTEMPTS, build_config, warnings
from import_logs.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    FormatError,
    ImportLogsError,
    InputError,
    Interrupted,
    ServerError,
    StateFileError,
    StateLockedError,
    WorkerError,
)
from import_logs.parsing.formats import builtin_formats
from import_logs.pipeline import Importer, dump_format, reset_state, show_state

#: The one place where errors become exit codes (subclasses first).
EXIT_CODES: tuple[tuple[type[ImportLogsError], ExitCode], ...] = (
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


def _list_formats(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for fmt in builtin_formats().values():
        aliases = f" (also: {', '.join(fmt.aliases)})" if fmt.aliases else ""
        click.echo(f"{fmt.name:<18} {fmt.description}{aliases}")
    ctx.exit(0)


@click.command(
    cls=GroupedCommand,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.argument("files", nargs=-1)
@click.option(
    "--settings",
    type=click.Path(dir_okay=False),
    envvar="IMPORT_LOGS_SETTINGS",
    is_eager=True,
    callback=settings_file.click_callback,
    metavar="FILE",
    help="Options from a TOML file (keys: the long option names) [env IMPORT_LOGS_SETTINGS].",
)
# input and formats
@click.option(
    "--log-format-name",
    metavar="NAME",
    help="Force a log format (see --list-formats), or a format file (.json).",
)
@click.option("--log-format-regex", metavar="REGEX", help="A regex with named groups (date, path, ip, status...).")
@click.option("--log-date-format", metavar="FMT", help="strptime format of the date group of --log-format-regex.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of the log files.")
@click.option(
    "--timezone",
    metavar="ZONE",
    help="Zone of timestamps written without an offset (HAProxy, custom "
    "regexes): +0200 or Europe/Paris  [default: UTC].",
)
@click.option(
    "--list-formats",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_formats,
    help="List the known log formats and exit.",
)
@click.option("--dump-log-regex", is_flag=True, help="Print the format of the first file and its regex, and exit.")
@click.option("--w3c-fields", metavar='"#Fields: ..."', help="The W3C fields of logs that have no #Fields: line.")
@click.option(
    "--w3c-map-field",
    multiple=True,
    metavar="CUSTOM=KNOWN",
    help="Read a W3C field as a known one, e.g. date-local=date (repeatable; or comma-separated).",
)
@click.option(
    "--w3c-field-regex",
    multiple=True,
    metavar="FIELD=REGEX",
    help="The regex of a W3C field, with a named group, e.g. 'sc-win32-status=(?P<win32>\\S+)' (repeatable).",
)
@click.option("--w3c-time-taken-millisecs", is_flag=True, help="W3C time-taken is in milliseconds (IIS always is).")
@click.option(
    "--ignore-groups",
    multiple=True,
    metavar="GROUP,...",
    help="Read the log as if its format had not these groups (e.g. userid).",
)
@click.option(
    "--regex-group-to-page-cvar",
    multiple=True,
    metavar="GROUP=NAME,...",
    help="Track a group of the format as a page custom variable.",
)
@click.option(
    "--regex-group-to-visit-cvar",
    multiple=True,
    metavar="GROUP=NAME,...",
    help="Track a group of the format as a visit custom variable.",
)
@click.option(
    "--track-http-method",
    is_flag=True,
    help="Track the HTTP method as page custom variable HTTP-method (=1 accepted, as in the reference).",
)
# filters
@click.option("--enable-static", is_flag=True, help="Track static files (images, css, js...) as downloads.")
@click.option("--enable-bots", is_flag=True, help="Track bots too, with a Bot/Not-Bot custom variable.")
@click.option("--useragent-exclude", multiple=True, metavar="TEXT", help="More user-agent substrings that mark a bot.")
@click.option("--enable-http-errors", is_flag=True, help="Track 4xx and 5xx answers as page views with an error title.")
@click.option("--enable-http-redirects", is_flag=True, help="Track 3xx answers (but 304) with a redirect title.")
@click.option("--download-extensions", multiple=True, metavar="EXT,...", help="Replace the download extensions.")
@click.option("--add-download-extensions", multiple=True, metavar="EXT,...", help="Add download extensions.")
@click.option("--hostname", multiple=True, metavar="GLOB", help="Only hits whose host matches (repeatable).")
@click.option("--exclude-path", multiple=True, metavar="GLOB", help="Skip paths matching this glob (repeatable).")
@click.option(
    "--exclude-path-from",
    type=click.Path(exists=True, dir_okay=False),
    help="--exclude-path globs from a file, one a line.",
)
@click.option("--include-path", multiple=True, metavar="GLOB", help="Only paths matching one of these globs.")
@click.option(
    "--include-path-from",
    type=click.Path(exists=True, dir_okay=False),
    help="--include-path globs from a file.",
)
@click.option("--strip-query-string", is_flag=True, help="Drop the query string from tracked URLs.")
@click.option("--include-host", multiple=True, metavar="HOST", help="Only hits of exactly this host (repeatable).")
@click.option("--exclude-host", multiple=True, metavar="HOST", help="Skip hits of exactly this host (repeatable).")
@click.option("--exclude-older-than", metavar='"YYYY-MM-DD hh:mm:ss +hhmm"', help="Skip hits before this time.")
@click.option("--exclude-newer-than", metavar='"YYYY-MM-DD hh:mm:ss +hhmm"', help="Skip hits after this time.")
@click.option("--add-to-date", type=int, default=0, metavar="SECONDS", help="Shift every timestamp (may be negative).")
@click.option("--force-lowercase-path", is_flag=True, help="Lowercase paths (and a query written with them).")
@click.option("--query-string-delimiter", default="?", show_default=True, help="Separates path and query.")
@click.option("--log-hostname", metavar="HOST", help="The host of every hit, whatever the log says.")
# destination
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    help="Where hits go  [default: matomo with --token-auth or --login, pirsch for a pirsch.io --url or a "
    "pa_ key, else piwikpro].",
)
@click.option("--url", metavar="URL", help="Your Piwik PRO account or Matomo, e.g. https://example.piwik.pro.")
@click.option("--api-url", metavar="URL", help="Matomo: where its API answers  [default: --url].")
@click.option(
    "--token-auth",
    envvar="IMPORT_LOGS_TOKEN_AUTH",
    metavar="TOKEN",
    help="Matomo token_auth with write access [env IMPORT_LOGS_TOKEN_AUTH].",
)
@click.option("--login", metavar="USER", help="Matomo user, to create a 48-hour token (with --password).")
@click.option("--password", envvar="IMPORT_LOGS_PASSWORD", metavar="PASSWORD", help="[env IMPORT_LOGS_PASSWORD]")
@click.option(
    "--client-id",
    envvar="IMPORT_LOGS_CLIENT_ID",
    metavar="ID",
    help="API client id [env IMPORT_LOGS_CLIENT_ID].",
)
@click.option(
    "--client-secret",
    envvar="IMPORT_LOGS_CLIENT_SECRET",
    metavar="SECRET",
    help="API client secret; better from the environment [env IMPORT_LOGS_CLIENT_SECRET].",
)
@click.option(
    "--idsite",
    metavar="ID",
    help="The site that receives the hits: Piwik PRO App ID (UUID) or Matomo site id  [default: by host name].",
)
@click.option("--idsite-fallback", metavar="ID", help="The site of hosts that have no site of their own.")
@click.option("--add-sites-new-hosts", is_flag=True, help="Create a site for each host that has none.")
@click.option("--replay-tracking", is_flag=True, help="Send again the tracking requests found in the logs.")
@click.option(
    "--replay-tracking-expected-tracker-file",
    metavar="SUFFIX",
    help="The path suffix of logged tracking requests  [default: piwik.php, matomo.php, ppms.php, /js/...].",
)
@click.option(
    "--tracker-endpoint-path",
    metavar="PATH",
    help="Tracker path  [default: /ppms.php, Matomo /matomo.php].",
)
@click.option("--enable-reverse-dns", is_flag=True, help="Let the server resolve visitor IPs (dp=0).")
@click.option("--title-category-delimiter", default="/", show_default=True, help="Separator in error titles.")
# performance
@click.option("--recorders", type=click.IntRange(min=1), default=1, show_default=True, help="Concurrent sending lanes.")
@click.option(
    "--recorder-max-payload-size",
    type=click.IntRange(min=1),
    metavar="N",
    help="Hits per request  [default: 95, Matomo 200, Pirsch 100].",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=lambda: _cpu_count(),
    show_default="cores",
    help="Parsing processes.",
)
@click.option(
    "--enable-bulk-tracking",
    is_flag=True,
    hidden=True,
    help="Accepted for compatibility: bulk is the default.",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0.1),
    default=300.0,
    show_default=True,
    help="Seconds per request.",
)
@click.option("--retry-max-attempts", type=int, default=3, show_default=True, help="Attempts per request.")
@click.option(
    "--retry-delay",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds before the first retry; doubled each time, with jitter.",
)
@click.option("--accept-invalid-ssl-certificate", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--auth-user", metavar="USER", help="HTTP Basic user, for a server behind a proxy that asks for one.")
@click.option(
    "--auth-password",
    envvar="IMPORT_LOGS_AUTH_PASSWORD",
    metavar="PASSWORD",
    help="HTTP Basic password [env IMPORT_LOGS_AUTH_PASSWORD].",
)
@click.option("--request-suffix", metavar="TEXT", help="Appended to the query string of every request.")
@click.option("--config", metavar="PATH", hidden=True, help="Matomo's config.ini.php (not needed: use --token-auth).")
@click.option("--php-binary", metavar="PHP", hidden=True, help="Not needed: use --token-auth.")
@click.option("--enable-testmode", is_flag=True, hidden=True, help="Not needed: use --token-auth.")
@click.option(
    "--disable-bulk-tracking",
    is_flag=True,
    help="One hit per request (slow; for servers without bulk tracking).",
)
@click.option(
    "--sleep-between-requests-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="MS",
    help="Each lane waits this long before each request.",
)
@click.option(
    "--debug-force-one-hit-every-Ns",
    "debug_force_one_hit_every_ns",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="One hit per request, one request every SECONDS per lane.",
)
# state
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    help="Where this destination's progress is kept  [default: ~/.local/state/import-logs/<destination>.json].",
)
@click.option("--no-state", is_flag=True, help="Keep no state: every run imports every line it is given.")
@click.option(
    "--force-reimport",
    is_flag=True,
    help="Import the files again from their start, whatever the state says.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for another run that uses the same state file.",
)
@click.option("--skip", type=click.IntRange(min=0), default=0, metavar="N", help="Skip the first N lines of each file.")
@click.option("--show-state", is_flag=True, help="Show what the state file holds for this destination, and exit.")
@click.option("--reset-state", is_flag=True, help="Forget the given files in the state file, and exit.")
# output
@click.option("--dry-run", is_flag=True, help="Parse, filter and encode, but send nothing.")
@click.option(
    "--save-requests",
    metavar="FILE",
    help="Write each request as a JSON line to FILE ('-': stdout); no server.",
)
@click.option("--show-progress/--no-progress", default=None, help="Progress bar on stderr  [default: when a terminal].")
@click.option(
    "--show-progress-delay",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often the progress bar is redrawn.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and a one-line result (for cron).")
@click.option("--summary-json", metavar="FILE", help="Write the summary figures as JSON to FILE ('-': stdout).")
@click.option("--output", type=click.Path(dir_okay=False), help="Append all output to FILE.")
@click.option("-v", "--verbose", count=True, help="List invalid and skipped lines (-vv: tracebacks too).")
@click.option("-d", "--debug", count=True, help="As -v (the reference importers' spelling).")
@click.option("--debug-tracker", is_flag=True, help="Send debug=1 and show every answer of the tracker.")
@click.option(
    "--debug-request-limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Import at most N hits of each file, and keep no state (a trial run).",
)
@click.option("--traceback", "show_traceback", is_flag=True, help="Show a traceback on errors.")
@click.version_option(__version__, "-V", "--version", prog_name="import-logs")
def main(**options: Any) -> None:
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


def _cpu_count() -> int:
    return os.cpu_count() or 1


def run(options: dict[str, Any], output: Output) -> ExitCode:
    """One import; returns the exit code. Separate from ``main`` so that tests can call it."""
    verbose = max(options["verbose"], options["debug"])
    quiet = options["quiet"]
    if not options["files"] and not (options["show_state"] or options["reset_state"]):
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
    if not quiet:
        for text in warnings(options):
            output.message(f"import-logs: {text}")
    if options["retry_max_attempts"] <= 0 and not quiet:
        output.message(
            f"import-logs: --retry-max-attempts {options['retry_max_attempts']} would retry forever; "
            f"using {UNBOUNDED_ATTEMPTS} attempts."
        )
    show = options["show_progress"]
    if show is None:
        show = output.err.isatty()
    show = show and not quiet
    # --summary-json=- is the only thing on stdout; --save-requests=- writes the requests there.
    to_stdout = config.save_requests == "-" or options["summary_json"] == "-"
    summary_out = output.err if to_stdout else output.out
    if show:
        from tqdm import tqdm

        output.bar = tqdm(
            total=None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=output.err,
            dynamic_ncols=True,
            mininterval=options["show_progress_delay"],
        )
    importer = Importer(
        config, on_event=draw(output, show, verbose, quiet=quiet), stdin=sys.stdin.buffer, stdout=output.out
    )
    previous = {signum: signal.signal(signum, _stopper(importer)) for signum in (signal.SIGINT, signal.SIGTERM)}
    code = ExitCode.OK
    error = ""
    try:
        importer.run()
    except ImportLogsError as exc:
        code = exit_code_for(exc)
        error = str(exc)
        report(output, verbose > 1 or options["show_traceback"], f"import-logs: error: {exc}")
    except Exception as exc:  # a bug: say so in one line, and show the traceback on request
        code = ExitCode.FAILURE
        error = f"internal error: {exc!r}"
        report(
            output,
            verbose > 1 or options["show_traceback"],
            f"import-logs: internal error: {exc!r}. Run again with --traceback and report it.",
        )
    except KeyboardInterrupt as exc:  # Interrupted, raised by the core once a signal asked it to stop
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        error = "stopped by " + ("SIGTERM" if code == ExitCode.TERMINATED else "Ctrl-C")
        close_bar(output)
        output.message(f"import-logs: {error}.")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        close_bar(output)
    stats = importer.stats
    if code == ExitCode.OK and stats.unreadable:
        code = ExitCode.INPUT  # the other files were imported; these wait (named in the summary)
    elif code == ExitCode.OK and stats.lines == 0:
        code = ExitCode.NOTHING_NEW
    summaries(
        stats,
        options["summary_json"],
        summary_out,
        output,
        quiet=quiet,
        outcome={"exit_code": int(code), "error": error or None},
        text=bool(stats.formats),  # an error before any file was read: no summary of zeros
    )
    return code


def _stopper(importer: Importer) -> Any:
    """The handler of Ctrl-C and SIGTERM: ask the import to stop at a safe point (it raises Interrupted there).
    A second signal ends the process at once, as the default action does (the state journal is kept as after
    a kill -9, so that is safe too)."""

    def handler(signum: int, _frame: object) -> None:
        if importer.interrupted is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        importer.interrupt(signum)

    return handler
