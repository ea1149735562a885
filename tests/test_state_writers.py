"""One writer of a checkpoint entry (#27): planning, the ledger and the object versions change an entry through
the state file, under its lock, and a snapshot reads the entries under the same lock, so it never saves an
entry half changed (a planning that restarts an entry field by field while a lane's thread snapshots)."""

from __future__ import annotations

import ast
import json
import sys
import threading
from pathlib import Path

from import_logs.checkpoint.resume import plan
from import_logs.checkpoint.state import Entry, StateFile
from import_logs.sources.kinds import FileSource

PACKAGE = Path(__file__).resolve().parent.parent / "import_logs"
FIELDS = set(Entry.__dataclass_fields__)


def test_no_module_but_the_state_file_assigns_an_entry_field() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "state.py" and path.parent.name == "checkpoint":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AugAssign)
                else []
            )
            for target in targets:
                for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                    named = isinstance(t, ast.Attribute) and t.attr in FIELDS and isinstance(t.value, ast.Name)
                    if named and ("entry" in t.value.id or t.value.id in ("e", "old")):  # type: ignore[attr-defined]
                        found.append(f"{path.relative_to(PACKAGE)}:{t.lineno} {t.value.id}.{t.attr}")  # type: ignore[attr-defined]
    assert not found


def test_a_snapshot_taken_while_planning_saves_every_entry_whole(tmp_path: Path) -> None:
    logs = []
    for n in range(150):
        log = tmp_path / f"access-{n}.log"
        log.write_text(f"line {n} of a log\n" * 40)
        logs.append(log)
    path = str(tmp_path / "state.json")
    with StateFile(path, destination="test") as state:
        for log in logs:
            entry = state.add(log.read_bytes()[:1024], str(log), compressed=False)
            state.update(entry, offset=200, line=10, acked=[12, 13])
        state.save(clean=True)
        seen: list[list[dict[str, object]]] = []
        stop = threading.Event()

        def snapshots() -> None:
            while not stop.is_set():
                state.save(clean=False)
                seen.append(json.loads(Path(path).read_text())["sources"])

        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        thread = threading.Thread(target=snapshots)
        thread.start()
        try:
            for _ in range(5):
                for n, log in enumerate(logs):
                    source = FileSource(n, str(log), str(log), None, log.stat().st_size)
                    plan(state, source, force=True, claimed=set())
                for entry in state.entries:
                    state.update(entry, offset=200, line=10, acked=[12, 13])
        finally:
            stop.set()
            thread.join()
            sys.setswitchinterval(old)
    assert len(seen) > 5
    for sources in seen:
        for e in sources:
            assert (e["offset"], e["line"], e["acked"]) in ((200, 10, [12, 13]), (0, 0, [])), e
