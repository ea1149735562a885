"""The shape of the command: --help grouped by purpose, with examples on top, and the reference's
``--track-http-method=VALUE`` read as the flag it is."""

from __future__ import annotations

import click

#: --help, grouped by purpose: section → option names (click parameter names).
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Input and formats",
        (
            "log_format_name",
            "log_format_regex",
            "log_date_format",
            "encoding",
            "timezone",
            "list_formats",
            "dump_log_regex",
            "w3c_fields",
            "w3c_map_field",
            "w3c_field_regex",
            "w3c_time_taken_millisecs",
            "ignore_groups",
        ),
    ),
    (
        "Filters",
        (
            "enable_static",
            "enable_bots",
            "useragent_exclude",
            "enable_http_errors",
            "enable_http_redirects",
            "download_extensions",
            "add_download_extensions",
            "hostname",
            "exclude_path",
            "exclude_path_from",
            "include_path",
            "include_path_from",
            "include_host",
            "exclude_host",
            "exclude_older_than",
            "exclude_newer_than",
            "replay_tracking",
            "replay_tracking_expected_tracker_file",
        ),
    ),
    (
        "What is tracked",
        (
            "strip_query_string",
            "query_string_delimiter",
            "force_lowercase_path",
            "add_to_date",
            "log_hostname",
            "enable_reverse_dns",
            "title_category_delimiter",
            "regex_group_to_page_cvar",
            "regex_group_to_visit_cvar",
            "track_http_method",
        ),
    ),
    (
        "Destination",
        (
            "backend",
            "url",
            "api_url",
            "client_id",
            "client_secret",
            "token_auth",
            "login",
            "password",
            "idsite",
            "idsite_fallback",
            "add_sites_new_hosts",
            "tracker_endpoint_path",
            "auth_user",
            "auth_password",
            "accept_invalid_ssl_certificate",
            "request_suffix",
            "config",
            "php_binary",
            "enable_testmode",
        ),
    ),
    (
        "Performance and retries",
        (
            "workers",
            "recorders",
            "recorder_max_payload_size",
            "disable_bulk_tracking",
            "enable_bulk_tracking",
            "sleep_between_requests_ms",
            "request_timeout",
            "retry_max_attempts",
            "retry_delay",
        ),
    ),
    (
        "State (re-runs, rotation, crashes)",
        ("state_file", "no_state", "force_reimport", "lock_timeout", "skip", "show_state", "reset_state"),
    ),
    (
        "Output",
        (
            "settings",
            "dry_run",
            "save_requests",
            "show_progress",
            "show_progress_delay",
            "quiet",
            "summary_json",
            "output",
            "verbose",
            "debug",
            "debug_tracker",
            "debug_request_limit",
            "debug_force_one_hit_every_ns",
            "show_traceback",
        ),
    ),
)


#: Words that turn --track-http-method off when given as its value.
_FALSE_WORDS = ("0", "false", "no", "off", "")
_BOOL_WORDS = ("1", "true", "yes", "on", *_FALSE_WORDS)


def _flag_with_value(args: list[str], option: str) -> list[str]:
    """The reference's ``--track-http-method=VALUE`` / ``--track-http-method VALUE`` as a plain flag.

    A following word is taken as the value only when it is a boolean word, so ``--track-http-method access.log``
    keeps its file."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out += args[i:]
            break
        if arg.startswith(option + "="):
            if arg.split("=", 1)[1].strip().lower() not in _FALSE_WORDS:
                out.append(option)
        elif arg == option:
            following = args[i + 1].lower() if i + 1 < len(args) else None
            if following is not None and following in _BOOL_WORDS:
                i += 1
                if following in _FALSE_WORDS:
                    i += 1
                    continue
            out.append(option)
        else:
            out.append(arg)
        i += 1
    return out


class GroupedCommand(click.Command):
    """A command whose --help lists its options by purpose (:data:`SECTIONS`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _flag_with_value(args, "--track-http-method"))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records: dict[str, tuple[str, str]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.name and not isinstance(param, click.Argument):
                records[param.name] = record
        placed: set[str] = set()
        for title, names in SECTIONS:
            rows = [records[name] for name in names if name in records]
            placed.update(names)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [record for name, record in records.items() if name not in placed]
        if rest:
            with formatter.section("General"):
                formatter.write_dl(rest)


HELP = """Import web server access logs into Piwik PRO, Matomo or Pirsch.

\b
Examples:
  export IMPORT_LOGS_CLIENT_SECRET=...
  import-logs --url=https://example.piwik.pro --client-id=ID --idsite=APP-UUID \\
      --recorders=2 /var/log/nginx/access.log
\b
  export IMPORT_LOGS_TOKEN_AUTH=...
  import-logs --url=https://matomo.example.com --idsite=1 /var/log/apache2/access.log
\b
  import-logs --settings=/etc/import-logs.toml --quiet /var/log/nginx/access.log   # from cron

Try it without a server: import-logs --save-requests=- sample_logs/common_complete.log
"""
