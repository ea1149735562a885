"""The generated parser of every bundled format, as source kept in tests/golden/parsers/ (issue #12).

``LineParser`` writes a ``parse`` function per format (see ``import_logs/hit.py``); these files let a reader see
that code without running anything, and make every change to it show in a diff. W3C formats are built from
their sample's ``#Fields:`` line. After a deliberate change to the generator, write them anew with
``IMPORT_LOGS_WRITE_GOLDEN=1 python -m pytest tests/test_golden_parsers.py`` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SAMPLES

from import_logs.config import TrackingOptions
from import_logs.parsing.detect import detect
from import_logs.parsing.formats import builtin_formats, get_format
from import_logs.parsing.hit import LineParser

GOLDEN = Path(__file__).parent / "golden" / "parsers"
FORMATS = sorted(builtin_formats())


def generated(name: str) -> str:
    fmt = get_format(name)
    if fmt.kind == "w3c":
        fmt = detect((SAMPLES / f"{name}.log").read_text(encoding="utf-8").splitlines(), path=name)
    header = f"# The parse function import-logs generates for the {name} format (default options).\n"
    return (
        header
        + "# Written by tests/test_golden_parsers.py; do not edit.\n\n"
        + LineParser(fmt, TrackingOptions()).source
    )


@pytest.mark.parametrize("name", FORMATS)
def test_the_generated_parser_is_the_one_on_file(name: str) -> None:
    path = GOLDEN / f"{name}.py.txt"  # text: kept out of linting and duplicate checks, as generated code
    source = generated(name)
    if os.environ.get("IMPORT_LOGS_WRITE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file for {name}: write it with IMPORT_LOGS_WRITE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8"), f"the parser of {name} changed: see the diff, then rewrite"


def test_every_golden_file_has_a_format() -> None:
    assert sorted(p.name.removesuffix(".py.txt") for p in GOLDEN.glob("*.py.txt")) == FORMATS
