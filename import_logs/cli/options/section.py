"""What the option sections are made of: a :class:`Section` (a --help title and its options) and :func:`option`.

Below ``reading`` and ``sending``, which declare the sections, so that the package imports them one way.
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
