"""How the package's modules import each other: one way, never in a circle, and no two modules each other even for
a type hint or inside a function (CONVENTIONS.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import import_logs

PACKAGE = Path(import_logs.__file__).parent


def _module_imports() -> dict[str, set[str]]:
    """Each module of the package → the modules of the package it imports when it is loaded (type-checking
    imports, under ``if``, and imports inside functions run later, or never)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        found = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module for a in node.names
                }
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {other for other in found if other in names and other != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in sorted(graph[name]):
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == name:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_no_two_modules_import_each_other_when_loaded() -> None:
    """A circle works only in the order the imports happen to run (the option sections once imported their
    package's helpers from a package that imported them back, after its definitions)."""
    graph = _module_imports()
    assert "import_logs.cli.options.sending" in graph  # the walk found the modules
    assert _circles(graph) == []


def _modules() -> dict[str, Path]:
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
    known = _modules()
    edges = {name: imported(name, path, known) for name, path in known.items()}
    both = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges[b])
    assert both == []


def test_the_address_types_and_the_shared_http_pieces_sit_below_their_users() -> None:
    known = _modules()
    edges = {name: imported(name, path, known) for name, path in known.items()}
    assert "import_logs.privacy" not in edges["import_logs.parsing.hit"]
    assert "import_logs.poster" not in edges["import_logs.http"]
    assert {"import_logs.privacy", "import_logs.parsing.hit"} <= {
        n for n in edges if "import_logs.addresses" in edges[n]
    }
    assert {"import_logs.http", "import_logs.poster"} <= {n for n in edges if "import_logs.wire" in edges[n]}
