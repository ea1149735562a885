"""The sections about the log: how it is read, which hits are kept, what is made private, what is tracked."""

from __future__ import annotations

import click

from import_logs.cli.options.section import Section, option
from import_logs.parsing.formats import builtin_formats


def _list_formats(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for fmt in builtin_formats().values():
        aliases = f" (also: {', '.join(fmt.aliases)})" if fmt.aliases else ""
        click.echo(f"{fmt.name:<18} {fmt.description}{aliases}")
    ctx.exit(0)


READING: tuple[Section, ...] = (
    Section(
        "Input and formats",
        (
            option(
                "--follow",
                is_flag=True,
                help="After the files given, keep reading them as they grow and across rotations (a service "
                "instead of cron); stop with SIGTERM or Ctrl-C. The state is kept as hits are accepted.",
            ),
            option(
                "--flush-interval",
                field="follow.flush_interval",
                type=click.FloatRange(min=0),
                show_default=True,
                metavar="SECONDS",
                help="With --follow: a partial batch is sent after waiting this long.",
            ),
            option(
                "--lateness",
                field="lateness",
                type=click.FloatRange(min=0),
                show_default=True,
                metavar="SECONDS",
                help="Hits of all the inputs are sent in one time order; a log's own disorder (a long request is "
                "logged when it ends, stamped when it began) is put back in order up to this far back. A later hit "
                "is sent anyway and counted as late.",
            ),
            option(
                "--follow-poll",
                field="follow.poll",
                type=click.FloatRange(min=0.05, max=60),
                show_default=True,
                metavar="SECONDS",
                help="With --follow: how often the files are looked at.",
            ),
            option(
                "--s3-endpoint-url",
                metavar="URL",
                help="The endpoint of an S3-compatible store (MinIO, R2...) for s3:// inputs  [default: "
                "$AWS_ENDPOINT_URL, else AWS].",
            ),
            option(
                "--queue",
                field="queue.url",
                metavar="URL",
                help="An SQS queue of S3 event notifications: import each object it announces (the s3:// inputs "
                "given say which); a message is deleted once its object is imported. With --follow, keep waiting.",
            ),
            option(
                "--queue-other",
                field="queue.other",
                type=click.Choice(["leave", "delete"]),
                show_default=True,
                help="With --queue: a message for an object the inputs do not name is left to another consumer, or "
                "deleted.",
            ),
            option(
                "--queue-max-receives",
                field="queue.max_receives",
                type=click.IntRange(min=0),
                show_default=True,
                metavar="N",
                help="With --queue: a message that cannot be processed (not JSON, its object deleted or damaged) is "
                "deleted once received this often; 0: leave it to the queue's dead-letter policy.",
            ),
            option(
                "--log-format-name",
                metavar="NAME",
                help="Force a log format (see --list-formats), or a format file (.json).",
            ),
            option(
                "--log-format-regex", metavar="REGEX", help="A regex with named groups (date, path, ip, status...)."
            ),
            option("--log-date-format", metavar="FMT", help="strptime format of the date group of --log-format-regex."),
            option("--encoding", field="formats.encoding", show_default=True, help="Encoding of the log files."),
            option(
                "--timezone",
                metavar="ZONE",
                help="Zone of timestamps written without an offset (HAProxy, custom "
                "regexes): +0200 or Europe/Paris  [default: UTC].",
            ),
            option(
                "--list-formats",
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_list_formats,
                help="List the known log formats and exit.",
            ),
            option(
                "--dump-log-regex", is_flag=True, help="Print the format of the first file and its regex, and exit."
            ),
            option("--w3c-fields", metavar='"#Fields: ..."', help="The W3C fields of logs that have no #Fields: line."),
            option(
                "--w3c-map-field",
                multiple=True,
                metavar="CUSTOM=KNOWN",
                help="Read a W3C field as a known one, e.g. date-local=date (repeatable; or comma-separated).",
            ),
            option(
                "--w3c-field-regex",
                multiple=True,
                metavar="FIELD=REGEX",
                help="The regex of a W3C field, with a named group, e.g. 'sc-win32-status=(?P<win32>\\S+)' "
                "(repeatable).",
            ),
            option(
                "--w3c-time-taken-millisecs", is_flag=True, help="W3C time-taken is in milliseconds (IIS always is)."
            ),
            option(
                "--ignore-groups",
                multiple=True,
                metavar="GROUP,...",
                help="Read the log as if its format had not these groups (e.g. userid).",
            ),
        ),
    ),
    Section(
        "Filters",
        (
            option("--enable-static", is_flag=True, help="Track static files (images, css, js...) as downloads."),
            option("--enable-bots", is_flag=True, help="Track bots too, with a Bot/Not-Bot custom variable."),
            option(
                "--useragent-exclude", multiple=True, metavar="TEXT", help="More user-agent substrings that mark a bot."
            ),
            option(
                "--enable-http-errors",
                is_flag=True,
                help="Track 4xx and 5xx answers as page views with an error title.",
            ),
            option("--enable-http-redirects", is_flag=True, help="Track 3xx answers (but 304) with a redirect title."),
            option("--download-extensions", multiple=True, metavar="EXT,...", help="Replace the download extensions."),
            option("--add-download-extensions", multiple=True, metavar="EXT,...", help="Add download extensions."),
            option("--hostname", multiple=True, metavar="GLOB", help="Only hits whose host matches (repeatable)."),
            option("--exclude-path", multiple=True, metavar="GLOB", help="Skip paths matching this glob (repeatable)."),
            option(
                "--exclude-path-from",
                type=click.Path(exists=True, dir_okay=False),
                help="--exclude-path globs from a file, one a line.",
            ),
            option("--include-path", multiple=True, metavar="GLOB", help="Only paths matching one of these globs."),
            option(
                "--include-path-from",
                type=click.Path(exists=True, dir_okay=False),
                help="--include-path globs from a file.",
            ),
            option(
                "--include-host", multiple=True, metavar="HOST", help="Only hits of exactly this host (repeatable)."
            ),
            option(
                "--exclude-host", multiple=True, metavar="HOST", help="Skip hits of exactly this host (repeatable)."
            ),
            option("--exclude-older-than", metavar='"YYYY-MM-DD hh:mm:ss +hhmm"', help="Skip hits before this time."),
            option("--exclude-newer-than", metavar='"YYYY-MM-DD hh:mm:ss +hhmm"', help="Skip hits after this time."),
            option(
                "--exclude-status",
                multiple=True,
                metavar="CODE,...",
                help="Skip hits with these statuses: codes and classes, e.g. 301 or 3xx (repeatable).",
            ),
            option(
                "--include-status",
                multiple=True,
                metavar="CODE,...",
                help="Only hits with these statuses (codes or classes); errors and redirects still need "
                "--enable-http-errors / --enable-http-redirects.",
            ),
            option("--exclude-method", multiple=True, metavar="METHOD,...", help="Skip hits of these HTTP methods."),
            option(
                "--exclude-field",
                multiple=True,
                metavar="FIELD=REGEX",
                help="Skip hits whose field (ip, host, method, path, query, status, referrer, user_agent, userid) "
                "matches the regex (repeatable).",
            ),
            option("--replay-tracking", is_flag=True, help="Send again the tracking requests found in the logs."),
            option(
                "--replay-tracking-expected-tracker-file",
                metavar="SUFFIX",
                help="The path suffix of logged tracking requests  "
                "[default: piwik.php, matomo.php, ppms.php, /js/...].",
            ),
        ),
    ),
    Section(
        "Privacy (applied before anything is sent or saved)",
        (
            option(
                "--client-ip-from",
                metavar="GROUP",
                help="A group of the format holding the client and its proxies (e.g. x-forwarded-for): the "
                "visitor is the last address that is not a trusted proxy.",
            ),
            option(
                "--trusted-proxies",
                multiple=True,
                metavar="CIDR,...",
                help="Proxies skipped when looking for the visitor's address  [default: private and loopback ranges].",
            ),
            option(
                "--exclude-ip",
                multiple=True,
                metavar="ADDR|CIDR,...",
                help="Never send hits from these addresses or ranges (IPv4, IPv6; repeatable; counted).",
            ),
            option(
                "--exclude-ip-from",
                type=click.Path(exists=True, dir_okay=False),
                help="--exclude-ip addresses and ranges from a file, one a line.",
            ),
            option(
                "--anonymize-ip",
                field="privacy.anonymize_ip",
                type=click.IntRange(0, 4),
                metavar="N",
                help="Zero the last N bytes of IPv4 addresses (IPv6: keep /64, /48, /24, nothing); visits are "
                "then told apart less well.",
            ),
            option("--drop-user-id", is_flag=True, help="Never send the log's user field."),
            option(
                "--hash-user-id",
                is_flag=True,
                help="Send a keyed hash of the log's user field instead of it (key: --hash-salt).",
            ),
            option(
                "--hash-salt",
                envvar="IMPORT_LOGS_HASH_SALT",
                metavar="SECRET",
                help="The key of --hash-user-id; keep it to keep the same ids across runs [env IMPORT_LOGS_HASH_SALT].",
            ),
            option(
                "--strip-query-param",
                multiple=True,
                metavar="NAME,...",
                help="Remove these parameters from tracked URLs and referrers (e.g. token, email).",
            ),
            option(
                "--tracking-param",
                multiple=True,
                metavar="NAME=VALUE",
                help="Add a parameter to every tracking request, e.g. Piwik PRO's privacy flags (repeatable).",
            ),
        ),
    ),
    Section(
        "What is tracked",
        (
            option("--strip-query-string", is_flag=True, help="Drop the query string from tracked URLs."),
            option(
                "--query-string-delimiter",
                field="tracking.query_string_delimiter",
                show_default=True,
                help="Separates path and query.",
            ),
            option("--force-lowercase-path", is_flag=True, help="Lowercase paths (and a query written with them)."),
            option(
                "--add-to-date",
                field="tracking.add_to_date",
                type=int,
                metavar="SECONDS",
                help="Shift every timestamp (may be negative).",
            ),
            option("--log-hostname", metavar="HOST", help="The host of every hit, whatever the log says."),
            option("--enable-reverse-dns", is_flag=True, help="Let the server resolve visitor IPs (dp=0)."),
            option(
                "--title-category-delimiter",
                field="tracking.title_category_delimiter",
                show_default=True,
                help="Separator in error titles.",
            ),
            option(
                "--regex-group-to-page-cvar",
                multiple=True,
                metavar="GROUP=NAME,...",
                help="Track a group of the format as a page custom variable.",
            ),
            option(
                "--regex-group-to-visit-cvar",
                multiple=True,
                metavar="GROUP=NAME,...",
                help="Track a group of the format as a visit custom variable.",
            ),
            option(
                "--dimension",
                multiple=True,
                metavar="NAME=ID,...",
                help="Send bot, http-status or http-method as custom dimension ID (Matomo 5 has no custom "
                "variables in core), e.g. --dimension http-status=4.",
            ),
            option(
                "--regex-group-to-page-dimension",
                multiple=True,
                metavar="GROUP=ID,...",
                help="Track a group of the format as custom dimension ID (action scope).",
            ),
            option(
                "--regex-group-to-visit-dimension",
                multiple=True,
                metavar="GROUP=ID,...",
                help="Track a group of the format as custom dimension ID (visit scope).",
            ),
            option(
                "--track-http-method",
                is_flag=True,
                help="Track the HTTP method as page custom variable HTTP-method (=1 accepted, as in the reference).",
            ),
        ),
    ),
)
