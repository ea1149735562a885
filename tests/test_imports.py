"""Imports go one way (CONVENTIONS.md): two modules never import each other, even for a type hint."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "import_logs"

#: Pairs another step of issue #27 (point 6) breaks: a package whose submodules import it back.
KNOWN = {
    ("import_logs.cli.options", "import_logs.cli.options.reading"),
    ("import_logs.cli.options", "import_logs.cli.options.sending"),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in it (under TYPE_CHECKING and in functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        out.update(n for n in names if n in known and n != name)
    return out


def test_no_two_modules_import_each_other() -> None:
    known = modules()
    edges = {name: imported(name, path, known) for name, path in known.items()}
    both = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges[b])
    assert [pair for pair in both if pair not in KNOWN] == []


def test_the_address_types_and_the_shared_http_pieces_sit_below_their_users() -> None:
    known = modules()
    edges = {name: imported(name, path, known) for name, path in known.items()}
    assert "import_logs.privacy" not in edges["import_logs.parsing.hit"]
    assert "import_logs.poster" not in edges["import_logs.http"]
    assert {"import_logs.privacy", "import_logs.parsing.hit"} <= {
        n for n in edges if "import_logs.addresses" in edges[n]
    }
    assert {"import_logs.http", "import_logs.poster"} <= {n for n in edges if "import_logs.wire" in edges[n]}
