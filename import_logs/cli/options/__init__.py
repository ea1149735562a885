"""Every option of the command, declared once, in the --help section it belongs to.

The sections carry their titles, so --help cannot list an option under a section it was not declared in, nor
forget one: :class:`~import_logs.cli.command.GroupedCommand` takes its parameters and its help layout from
:data:`SECTIONS` alone. ``reading`` holds the sections about the log (input, filters, privacy, what is
tracked), ``sending`` those about where hits go and how (destination, performance, state, output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Section:
    """A --help section: its title and its options, in the order --help lists them."""

    title: str
    options: tuple[click.Option, ...]


def option(*decls: str, **attrs: Any) -> click.Option:
    """An option, declared as ``@click.option`` would."""
    return click.Option(decls, **attrs)


from import_logs.cli.options.reading import READING  # noqa: E402 - the sections use the helpers above
from import_logs.cli.options.sending import SENDING  # noqa: E402

SECTIONS: tuple[Section, ...] = (*READING, *SENDING)
