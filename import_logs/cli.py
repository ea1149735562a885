"""The command line: options → :class:`Config` → :class:`Importer` → a summary and an exit code.

The only module that imports click and tqdm, reads the environment and the terminal, and decides exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import click

from import_logs import __version__
from import_logs.config import (
    DEFAULT_DOWNLOAD_EXTENSIONS,
    BackendOptions,
    Config,
    FilterOptions,
    FormatOptions,
    HttpOptions,
    Secret,
    StateOptions,
    TrackingOptions,
)
from import_logs.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    FormatError,
    ImportLogsError,
    InputError,
    ServerError,
    StateLockedError,
    WorkerError,
)
from import_logs.events import Event, FileStarted, LineRejected, Notice, Progress
from import_logs.formats import builtin_formats
from import_logs.pipeline import Importer, reset_state, show_state
from import_logs.stats import Stats, summary_dict, summary_text

#: The one place where errors become exit codes (subclasses first).
EXIT_CODES: tuple[tuple[type[ImportLogsError], ExitCode], ...] = (
    (ConfigError, ExitCode.USAGE),
    (InputError, ExitCode.INPUT),
    (FormatError, ExitCode.INPUT),
    (AuthError, ExitCode.AUTH),
    (ServerError, ExitCode.SERVER),
    (WorkerError, ExitCode.FAILURE),
    (StateLockedError, ExitCode.BUSY),
)

UNBOUNDED_ATTEMPTS = 100


def exit_code_for(exc: ImportLogsError) -> ExitCode:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return ExitCode.FAILURE


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C but with its own exit code."""


@dataclass
class Output:
    """Where the CLI writes: the summary to ``out``, messages and progress to ``err``."""

    out: TextIO
    err: TextIO
    bar: Any = None

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.err)
        else:
            click.echo(text, file=self.err)


def _split_list(values: Iterable[str]) -> list[str]:
    return [v.strip().lower().lstrip(".") for value in values for v in value.split(",") if v.strip()]


def _read_patterns(path: str | None) -> list[str]:
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def _list_formats(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for fmt in builtin_formats().values():
        aliases = f" (also: {', '.join(fmt.aliases)})" if fmt.aliases else ""
        click.echo(f"{fmt.name:<18} {fmt.description}{aliases}")
    ctx.exit(0)


def build_config(o: dict[str, Any]) -> Config:
    """Options as click parsed them → the frozen configuration of the import."""
    downloads = (
        set(_split_list(o["download_extensions"])) if o["download_extensions"] else set(DEFAULT_DOWNLOAD_EXTENSIONS)
    )
    downloads |= set(_split_list(o["add_download_extensions"]))
    attempts = o["retry_max_attempts"]
    secret = o["client_secret"]
    return Config(
        inputs=tuple(o["files"]),
        formats=FormatOptions(
            name=o["log_format_name"],
            regex=o["log_format_regex"],
            date_format=o["log_date_format"],
            encoding=o["encoding"],
        ),
        filters=FilterOptions(
            enable_static=o["enable_static"],
            enable_bots=o["enable_bots"],
            enable_http_errors=o["enable_http_errors"],
            enable_http_redirects=o["enable_http_redirects"],
            download_extensions=frozenset(downloads),
            useragent_exclude=tuple(o["useragent_exclude"]),
            hostnames=tuple(o["hostname"]),
            exclude_paths=tuple(o["exclude_path"]) + tuple(_read_patterns(o["exclude_path_from"])),
            include_paths=tuple(o["include_path"]) + tuple(_read_patterns(o["include_path_from"])),
        ),
        tracking=TrackingOptions(
            strip_query_string=o["strip_query_string"],
            query_string_delimiter=o["query_string_delimiter"],
            log_hostname=o["log_hostname"],
            enable_reverse_dns=o["enable_reverse_dns"],
            title_category_delimiter=o["title_category_delimiter"],
        ),
        backend=BackendOptions(
            url=o["url"],
            tracker_endpoint_path=o["tracker_endpoint_path"],
            client_id=o["client_id"],
            client_secret=Secret(secret) if secret else None,
            idsite=o["idsite"],
            recorders=max(1, o["recorders"]),
            payload_size=o["recorder_max_payload_size"],
        ),
        http=HttpOptions(
            timeout=o["request_timeout"],
            max_attempts=attempts if attempts > 0 else UNBOUNDED_ATTEMPTS,
            retry_delay=o["retry_delay"],
            verify_tls=not o["accept_invalid_ssl_certificate"],
        ),
        state=StateOptions(
            path=o["state_file"],
            directory=None if o["no_state"] else default_state_dir(),
            force_reimport=o["force_reimport"],
            lock_timeout=o["lock_timeout"],
            skip=o["skip"],
        ),
        workers=o["workers"],
        dry_run=o["dry_run"],
        save_requests=o["save_requests"],
        verbose=o["verbose"],
    )


def default_state_dir() -> str:
    """``$IMPORT_LOGS_STATE_DIR``, else ``$XDG_STATE_HOME/import-logs``, else ``~/.local/state/import-logs``."""
    explicit = os.environ.get("IMPORT_LOGS_STATE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "import-logs")


def _draw(output: Output, show_progress: bool, verbose: int) -> Any:
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
        elif isinstance(event, Notice):
            output.message(f"import-logs: {event.message}")

    return sink


HELP = """Import web server access logs into Piwik PRO.

\b
Example:
  import-logs --url=https://example.piwik.pro --client-id=ID --client-secret=SECRET \\
      --idsite=APP-UUID --recorders=2 --show-progress /var/log/nginx/access.log

Try it without a server: import-logs --save-requests=- sample_logs/common_complete.log
"""


@click.command(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("files", nargs=-1, required=True)
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
    "--list-formats",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_formats,
    help="List the known log formats and exit.",
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
@click.option("--query-string-delimiter", default="?", show_default=True, help="Separates path and query.")
@click.option("--log-hostname", metavar="HOST", help="The host of every hit, whatever the log says.")
# destination
@click.option("--url", metavar="URL", help="Your Piwik PRO account, e.g. https://example.piwik.pro.")
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
@click.option("--idsite", metavar="APP-ID", help="The App ID (UUID) that receives the hits.")
@click.option("--tracker-endpoint-path", metavar="PATH", help="Tracker path  [default: /ppms.php].")
@click.option("--enable-reverse-dns", is_flag=True, help="Let the server resolve visitor IPs (dp=0).")
@click.option("--title-category-delimiter", default="/", show_default=True, help="Separator in error titles.")
# performance
@click.option("--recorders", type=int, default=1, show_default=True, help="Concurrent sending lanes.")
@click.option(
    "--recorder-max-payload-size",
    type=click.IntRange(min=1),
    metavar="N",
    help="Hits per request  [default: 95].",
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
@click.option("--summary-json", metavar="FILE", help="Write the summary figures as JSON to FILE ('-': stdout).")
@click.option("--output", type=click.Path(dir_okay=False), help="Append all output to FILE.")
@click.option("-v", "--verbose", count=True, help="List invalid and skipped lines (-vv: tracebacks too).")
@click.option("--traceback", "show_traceback", is_flag=True, help="Show a traceback on errors.")
@click.version_option(__version__, "-V", "--version", prog_name="import-logs")
def main(**options: Any) -> None:
    output = Output(sys.stdout, sys.stderr)
    owned: TextIO | None = None
    if options["output"]:
        owned = open(options["output"], "a", encoding="utf-8")  # noqa: SIM115 - closed below
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
    verbose = options["verbose"]
    try:
        config = build_config(options)
    except OSError as exc:
        output.message(f"import-logs: error: {exc.filename}: {exc.strerror}. Check the path.")
        return ExitCode.USAGE
    if options["show_state"] or options["reset_state"]:
        try:
            said = show_state(config) if options["show_state"] else reset_state(config)
        except ImportLogsError as exc:
            output.message(f"import-logs: error: {exc}")
            return exit_code_for(exc)
        click.echo("\n".join(said), file=output.out)
        return ExitCode.OK
    if options["retry_max_attempts"] <= 0:
        output.message(
            f"import-logs: --retry-max-attempts {options['retry_max_attempts']} would retry forever; "
            f"using {UNBOUNDED_ATTEMPTS} attempts."
        )
    show = options["show_progress"]
    if show is None:
        show = output.err.isatty()
    summary_out = output.err if config.save_requests == "-" else output.out
    if show:
        from tqdm import tqdm

        output.bar = tqdm(
            total=None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=output.err,
            dynamic_ncols=True,
            mininterval=0.5,
        )
    importer = Importer(config, on_event=_draw(output, show, verbose), stdin=sys.stdin.buffer, stdout=output.out)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    code = ExitCode.OK
    try:
        importer.run()
    except ImportLogsError as exc:
        code = exit_code_for(exc)
        _report(output, verbose > 1 or options["show_traceback"], f"import-logs: error: {exc}")
    except Exception as exc:  # a bug: say so in one line, and show the traceback on request
        code = ExitCode.FAILURE
        _report(
            output,
            verbose > 1 or options["show_traceback"],
            f"import-logs: internal error: {exc!r}. Run again with --traceback and report it.",
        )
    except KeyboardInterrupt as exc:
        code = ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED
        _close_bar(output)
        output.message("import-logs: stopped by " + ("SIGTERM" if code == ExitCode.TERMINATED else "Ctrl-C") + ".")
    finally:
        signal.signal(signal.SIGTERM, previous)
        _close_bar(output)
    if importer.sources:
        _summaries(importer.stats, options["summary_json"], summary_out, output)
    return code


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated()


def _report(output: Output, with_traceback: bool, text: str) -> None:
    """An error message (after the traceback, when asked for); called inside the ``except`` block."""
    _close_bar(output)
    if with_traceback:
        output.message(traceback.format_exc().rstrip())
    output.message(text)


def _close_bar(output: Output) -> None:
    if output.bar is not None:
        output.bar.close()
        output.bar = None


def _summaries(stats: Stats, json_path: str | None, summary_out: TextIO, output: Output) -> None:
    click.echo(summary_text(stats), file=summary_out)
    if json_path:
        text = json.dumps(summary_dict(stats), indent=2)
        if json_path == "-":
            click.echo(text, file=output.out)
        else:
            try:
                with open(json_path, "w", encoding="utf-8") as f:
                    f.write(text + "\n")
            except OSError as exc:
                output.message(f"import-logs: error: --summary-json {json_path}: {exc.strerror}.")
