"""What the option sections are made of: a :class:`Section` (a --help title and its options) and :func:`option`.

Below ``reading`` and ``sending``, which declare the sections, so that the package imports them one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from import_logs.config import field_default


@dataclass(frozen=True)
class Section:
    """A --help section: its title and its options, in the order --help lists them."""

    title: str
    options: tuple[click.Option, ...]


class ConfigOption(click.Option):
    """An option whose value is a :class:`~import_logs.config.Config` field as it is: its default is the field's,
    declared there once (and shown by --help from there)."""

    def __init__(self, decls: tuple[str, ...], *, field: str, **attrs: Any) -> None:
        if "default" in attrs:
            raise TypeError(f"{decls[0]}: the default of {field} is the configuration's; do not give it again")
        self.field = field
        super().__init__(decls, default=field_default(field), **attrs)


def option(*decls: str, field: str | None = None, **attrs: Any) -> click.Option:
    """An option, declared as ``@click.option`` would; ``field`` (``"http.timeout"``) names the configuration
    field it sets, whose default it takes."""
    if field is not None:
        return ConfigOption(decls, field=field, **attrs)
    return click.Option(decls, **attrs)
