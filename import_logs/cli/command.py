"""The shape of the command: its options and --help grouped by purpose (:mod:`~import_logs.cli.options`), with
examples on top, and the reference's ``--track-http-method=VALUE`` read as the flag it is."""

from __future__ import annotations

from typing import Any

import click

from import_logs.cli.options import Section

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
    """A command whose options come from :data:`~import_logs.cli.options.SECTIONS` and whose --help lists them
    by those sections (what is left, --help and --version, under "General")."""

    def __init__(self, *args: Any, sections: tuple[Section, ...], **attrs: Any) -> None:
        super().__init__(*args, **attrs)
        self.sections = sections
        declared = [opt for section in sections for opt in section.options]
        at = sum(isinstance(param, click.Argument) for param in self.params)
        self.params[at:at] = declared

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _flag_with_value(args, "--track-http-method"))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        placed: set[str] = set()
        for section in self.sections:
            rows = [record for opt in section.options if (record := opt.get_help_record(ctx)) is not None]
            placed.update(opt.name for opt in section.options if opt.name)
            if rows:
                with formatter.section(section.title):
                    formatter.write_dl(rows)
        rest = [
            record
            for param in self.get_params(ctx)
            if param.name not in placed
            and not isinstance(param, click.Argument)
            and (record := param.get_help_record(ctx)) is not None
        ]
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
