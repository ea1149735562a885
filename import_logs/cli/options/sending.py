"""The sections about where hits go and how: destination, performance and retries, state, output."""

from __future__ import annotations

from collections.abc import Callable

import click

from import_logs.backends.registry import BACKENDS, DEFAULT_BACKEND, REGISTRY, Backend
from import_logs.cli import settings_file
from import_logs.cli.options.section import Section, option
from import_logs.config import BackendOptions, HttpOptions


def _either(words: tuple[str, ...] | list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _backend_default() -> str:
    """--backend's default, as the registry's entries infer it: ``matomo with --token-auth, ..., else piwikpro``."""
    said = []
    for b in REGISTRY.values():
        marks = [f"a {mark} --url" for mark in b.url_marks] + ([f"a {b.key_prefix} key"] if b.key_prefix else [])
        why = ([f"with {_either(b.implied_by)}"] if b.implied_by else []) + ([f"for {_either(marks)}"] if marks else [])
        if why:
            said.append(f"{b.name} {' '.join(why)}")
    return ", ".join([*said, f"else {DEFAULT_BACKEND}"])


def _per_backend(value: Callable[[Backend], object | None]) -> str:
    """A default that depends on the backend: the default backend's, then the others' by title
    (``95, Matomo 200, Pirsch 100``); a backend whose value is None is left out."""
    first = value(REGISTRY[DEFAULT_BACKEND])
    others = [f"{b.title} {value(b)}" for b in REGISTRY.values() if b.name != DEFAULT_BACKEND and value(b) is not None]
    return ", ".join([str(first), *others])


def _settable_path(b: Backend) -> str | None:
    return b.tracker_path if b.endpoint_option else None  # a fixed API path: the option is ignored


SENDING: tuple[Section, ...] = (
    Section(
        "Destination",
        (
            option(
                "--backend",
                type=click.Choice(BACKENDS),
                help=f"Where hits go  [default: {_backend_default()}].",
            ),
            option(
                "--url",
                metavar="URL",
                help="Your Piwik PRO account or Matomo, e.g. https://example.piwik.pro  [default: "
                + ", ".join(f"{b.title} {b.default_url}" for b in REGISTRY.values() if b.default_url)
                + "].",
            ),
            option("--api-url", metavar="URL", help="Matomo: where its API answers  [default: --url]."),
            option(
                "--client-id",
                envvar="IMPORT_LOGS_CLIENT_ID",
                metavar="ID",
                help="API client id [env IMPORT_LOGS_CLIENT_ID].",
            ),
            option(
                "--client-secret",
                envvar="IMPORT_LOGS_CLIENT_SECRET",
                metavar="SECRET",
                help="API client secret; better from the environment [env IMPORT_LOGS_CLIENT_SECRET].",
            ),
            option(
                "--token-auth",
                envvar="IMPORT_LOGS_TOKEN_AUTH",
                metavar="TOKEN",
                help="Matomo token_auth with write access [env IMPORT_LOGS_TOKEN_AUTH].",
            ),
            option("--login", metavar="USER", help="Matomo user, to create a 48-hour token (with --password)."),
            option("--password", envvar="IMPORT_LOGS_PASSWORD", metavar="PASSWORD", help="[env IMPORT_LOGS_PASSWORD]"),
            option(
                "--idsite",
                metavar="ID",
                help="The site that receives the hits: Piwik PRO App ID (UUID) or Matomo site id  "
                "[default: by host name].",
            ),
            option("--idsite-fallback", metavar="ID", help="The site of hosts that have no site of their own."),
            option("--add-sites-new-hosts", is_flag=True, help="Create a site for each host that has none."),
            option(
                "--tracker-endpoint-path",
                metavar="PATH",
                help=f"Tracker path  [default: {_per_backend(_settable_path)}].",
            ),
            option(
                "--auth-user", metavar="USER", help="HTTP Basic user, for a server behind a proxy that asks for one."
            ),
            option(
                "--auth-password",
                envvar="IMPORT_LOGS_AUTH_PASSWORD",
                metavar="PASSWORD",
                help="HTTP Basic password [env IMPORT_LOGS_AUTH_PASSWORD].",
            ),
            option("--accept-invalid-ssl-certificate", is_flag=True, help="Do not verify TLS certificates."),
            option("--request-suffix", metavar="TEXT", help="Appended to the query string of every request."),
            option(
                "--config",
                metavar="PATH",
                help="Matomo on this server: its config/config.ini.php (or its directory), to get a token from its "
                "misc/cron/updatetoken.php when no --token-auth is given (the user must read the file).",
            ),
            option(
                "--php-binary",
                metavar="PHP",
                help=f"The PHP that runs Matomo's token script  [default: {BackendOptions.php_binary}].",
            ),
            option("--enable-testmode", is_flag=True, help="Runs Matomo's token script with --testmode."),
            option(
                "--ai-assistants/--no-ai-assistants",
                default=None,
                help="Matomo 5.7+ with BotTracking: AI assistants' requests (ChatGPT-User, Claude-User, ...) go to "
                "its AI Assistants reports, not to visits  [default: where the server records them].",
            ),
        ),
    ),
    Section(
        "Performance and retries",
        (
            option(
                "--workers",
                field="workers",
                type=click.IntRange(1, 256),
                show_default="cores",
                help="Parsing processes.",
            ),
            option(
                "--recorders",
                field="backend.recorders",
                type=click.IntRange(min=1),
                show_default=True,
                help="Concurrent sending lanes.",
            ),
            option(
                "--recorder-max-payload-size",
                type=click.IntRange(min=1),
                metavar="N",
                help=f"Hits per request  [default: {_per_backend(lambda b: b.payload_size)}].",
            ),
            option(
                "--disable-bulk-tracking",
                is_flag=True,
                help="One hit per request (slow; for servers without bulk tracking).",
            ),
            option(
                "--enable-bulk-tracking",
                is_flag=True,
                hidden=True,
                help="Accepted for compatibility: bulk is the default.",
            ),
            option(
                "--sleep-between-requests-ms",
                type=click.FloatRange(min=0),
                default=HttpOptions.sleep_between * 1000,  # the field is in seconds
                metavar="MS",
                help="Each lane waits this long before each request.",
            ),
            option(
                "--request-timeout",
                field="http.timeout",
                type=click.FloatRange(min=0.1),
                show_default=True,
                help="Seconds per request.",
            ),
            option(
                "--retry-max-attempts",
                type=int,
                help=f"Attempts per request  [default: {HttpOptions.max_attempts}; with --follow: until the server "
                "answers].",
            ),
            option(
                "--retry-delay",
                field="http.retry_delay",
                type=click.FloatRange(min=0),
                show_default=True,
                help="Seconds before the first retry; doubled each time, with jitter.",
            ),
        ),
    ),
    Section(
        "State (re-runs, rotation, crashes)",
        (
            option(
                "--state-file",
                # not readable=True: a state that cannot be read is the state's error (exit 7, with its fix)
                type=click.Path(dir_okay=False, readable=False),
                help="Where this destination's progress is kept  "
                "[default: <destination>.json in $IMPORT_LOGS_STATE_DIR, else systemd's $STATE_DIRECTORY, else "
                "~/.local/state/import-logs].",
            ),
            option("--no-state", is_flag=True, help="Keep no state: every run imports every line it is given."),
            option(
                "--force-reimport",
                is_flag=True,
                help="Import the files again from their start, whatever the state says.",
            ),
            option(
                "--lock-timeout",
                field="state.lock_timeout",
                type=click.FloatRange(min=0),
                show_default=True,
                help="Seconds to wait for another run that uses the same state file.",
            ),
            option(
                "--objects-settle",
                field="state.settle",
                type=click.FloatRange(min=0),
                show_default=True,
                metavar="SECONDS",
                help="Objects of a listed bucket: once an object was last modified this long ago and is imported, "
                "the state keeps one mark for it and every key before it, and later runs list only the keys after "
                "the mark (the whole pattern once a day, which finds objects uploaded late under older keys).",
            ),
            option(
                "--skip",
                field="state.skip",
                type=click.IntRange(min=0),
                metavar="N",
                help="Skip the first N lines of each file.",
            ),
            option("--show-state", is_flag=True, help="Show what the state file holds for this destination, and exit."),
            option("--reset-state", is_flag=True, help="Forget the given files in the state file, and exit."),
        ),
    ),
    Section(
        "Output",
        (
            option(
                "--settings",
                type=click.Path(dir_okay=False),
                envvar="IMPORT_LOGS_SETTINGS",
                is_eager=True,
                callback=settings_file.click_callback,
                metavar="FILE",
                help="Options from a TOML file (keys: the long option names) [env IMPORT_LOGS_SETTINGS].",
            ),
            option("--dry-run", is_flag=True, help="Parse, filter and encode, but send nothing."),
            option(
                "--save-requests",
                metavar="FILE",
                help="Write each request as a JSON line to FILE ('-': stdout); no server.",
            ),
            option(
                "--show-progress/--no-progress",
                default=None,
                help="Progress bar on stderr  [default: when a terminal].",
            ),
            option(
                "--show-progress-delay",
                type=click.FloatRange(min=0.1),
                default=1.0,
                show_default=True,
                metavar="SECONDS",
                help="How often the progress bar is redrawn.",
            ),
            option("-q", "--quiet", is_flag=True, help="Print only errors and a one-line result (for cron)."),
            option("--summary-json", metavar="FILE", help="Write the summary figures as JSON to FILE ('-': stdout)."),
            option("--output", type=click.Path(dir_okay=False), help="Append all output to FILE."),
            option("-v", "--verbose", count=True, help="List invalid and skipped lines (-vv: tracebacks too)."),
            option("-d", "--debug", count=True, help="As -v (the reference importers' spelling)."),
            option("--debug-tracker", is_flag=True, help="Send debug=1 and show every answer of the tracker."),
            option(
                "--debug-request-limit",
                type=click.IntRange(min=1),
                metavar="N",
                help="Import at most N hits of each file, and keep no state (a trial run).",
            ),
            option(
                "--debug-force-one-hit-every-Ns",
                "debug_force_one_hit_every_ns",
                type=click.FloatRange(min=0),
                metavar="SECONDS",
                help="One hit per request, one request every SECONDS per lane.",
            ),
            option("--traceback", "show_traceback", is_flag=True, help="Show a traceback on errors."),
        ),
    ),
    Section(
        "Watching a run (metrics, health, status line)",
        (
            option(
                "--metrics-listen",
                metavar="HOST:PORT",
                help="Serve /metrics (Prometheus) and /healthz there while the run lasts, e.g. 127.0.0.1:9464.",
            ),
            option(
                "--unhealthy-after",
                type=click.FloatRange(min=1),
                default=120.0,
                show_default=True,
                metavar="SECONDS",
                help="/healthz answers 503 once a hit read has waited this long for the tracker, or nothing was "
                "read for this long.",
            ),
            option(
                "--status-interval",
                type=click.FloatRange(min=0),
                metavar="SECONDS",
                help="A status line on stderr this often, also with --quiet; 0: none  [default: 300 with --follow, "
                "else 0].",
            ),
            option(
                "--message-format",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="json: every message on stderr as one JSON object a line (time, level, message, fields), "
                "and the summary as one more.",
            ),
        ),
    ),
)
