"""How the package's modules import each other: one way, never in a circle."""

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
