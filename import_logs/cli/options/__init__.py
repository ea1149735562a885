"""Every option of the command, declared once, in the --help section it belongs to.

The sections carry their titles, so --help cannot list an option under a section it was not declared in, nor
forget one: :class:`~import_logs.cli.command.GroupedCommand` takes its parameters and its help layout from
:data:`SECTIONS` alone. ``reading`` holds the sections about the log (input, filters, privacy, what is
tracked), ``sending`` those about where hits go and how (destination, performance, state, output); both are
made of ``section``'s pieces.
"""

from __future__ import annotations

from import_logs.cli.options.reading import READING
from import_logs.cli.options.section import Section, option
from import_logs.cli.options.sending import SENDING

SECTIONS: tuple[Section, ...] = (*READING, *SENDING)

__all__ = ["SECTIONS", "Section", "option"]
