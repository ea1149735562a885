"""Which format reads a source: the one the options name, checked against its first lines, or the one detected;
for the W3C family, a template built from the ``#Fields:`` in effect (the groups the options name are checked in
:mod:`~import_logs.pipeline.groups`)."""

from __future__ import annotations

from import_logs.config import Config
from import_logs.errors import FormatError
from import_logs.parsing.detect import detect, excerpt, first_lines
from import_logs.parsing.formats import FormatDef, get_format, load_format_file, user_regex_format
from import_logs.parsing.hit import reads_any
from import_logs.parsing.w3c import build as build_w3c
from import_logs.parsing.w3c import fields_before, header_fields
from import_logs.sources.kinds import Source


def forced_format(config: Config) -> FormatDef | None:
    """The format the options name, if any: a regex, a definition file, or a known name."""
    f = config.formats
    if f.regex:
        return user_regex_format(f.regex, f.date_format)
    if f.name and f.name.endswith(".json"):
        return load_format_file(f.name)
    if f.name:
        return get_format(f.name)
    return None


def format_for(config: Config, source: Source, lines: list[str], forced: FormatDef | None, offset: int) -> FormatDef:
    """The format of a source (resumed at ``offset``): named or detected; a W3C template built from the fields in
    effect."""
    w3c = config.formats.w3c
    fmt = forced or detect(lines, path=source.name, w3c_options=w3c)
    if fmt.kind != "w3c" and not (fmt.comments and offset):
        return check_forced(config, fmt, source, lines) if forced else fmt
    fields = header_fields(lines, w3c)
    if offset and source.reopens:  # resuming: the last #Fields: before the checkpoint
        fields = fields_before(source, offset) or fields
    if fields is None:
        raise FormatError(
            f"{source.name}: no #Fields: line in its first lines, so the W3C fields are unknown. "
            'Give them with --w3c-fields="#Fields: date time c-ip ...".',
            path=source.name,
        )
    built = build_w3c(fmt, fields, w3c, where=source.name)
    return check_forced(config, built, source, lines) if forced else built


def check_forced(config: Config, fmt: FormatDef, source: Source, lines: list[str]) -> FormatDef:
    """A format the options name must read one of the first lines (W3C directives are not lines), as a detected
    one does."""
    f = config.formats
    sample = [line for line in first_lines(lines) if not (fmt.comments and line.startswith("#"))]
    if not sample or reads_any(fmt, sample, config.tracking, timezone=f.timezone):
        return fmt
    option = "--log-format-regex" if f.regex else "--log-format-name"
    raise FormatError(
        f"{source.name}: the format {fmt.name} given by {option} reads none of the first lines. First line: "
        f"{excerpt(sample[0])}. Leave {option} out to detect the format (see --list-formats), or correct it.",
        path=source.name,
        tried=(fmt.name,),
    )
