"""A state file that is damaged, of a newer version, unreadable or unwritable (issue #22, item 9), and what
--show-state says of logs that were rotated since (item 16).

Each damaged value stopped the run with "internal error" (exit 1), or was taken silently; an unreadable state
or an unwritable directory exited 2, where the README says 7. The real CLI against the fake server.
"""

from __future__ import annotations

import ctypes
import errno
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from test_resume import append, expect, imported

from import_logs.checkpoint.state import StateFile
from import_logs.cli import exit_code_for
from import_logs.errors import ExitCode, StateFileError


def imported_once(fake: FakePiwikPro, log: Path, state: Path, tmp_path: Path) -> dict[str, Any]:
    """Import ``log`` once (5 lines) into a fresh ``state``; what the state file holds then."""
    append(log, "s", 1, 5)
    first = run_cli(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert first.returncode == 0, first.stderr
    data: dict[str, Any] = json.loads(state.read_text())
    return data


def damage_source(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def damage(data: dict[str, Any]) -> None:
        data["sources"][0][field] = value

    return damage


def damage_top(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def damage(data: dict[str, Any]) -> None:
        data[field] = value

    return damage


DAMAGED = {
    "offset -50": (damage_source("offset", -50), "sources[0].offset is -50, not a whole number >= 0"),
    "acked of text": (damage_source("acked", ["x"]), "sources[0].acked is ['x'], not a list of line numbers"),
    "in_flight of text": (damage_top("in_flight", "lots"), "in_flight is 'lots', not a whole number >= 0"),
    "line of text": (damage_source("line", "5"), "sources[0].line is '5', not a whole number >= 0"),
    "done of text": (damage_source("done", "yes"), "sources[0].done is 'yes', not true or false"),
    "fp_len too long": (damage_source("fp_len", 5000), "sources[0].fp_len is 5000, not a whole number from 0 to"),
    "clean of number": (damage_top("clean", 3), "clean is 3, not true or false"),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_a_damaged_value_is_named_with_its_field_and_fix(fake: FakePiwikPro, tmp_path: Path, case: str) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    data = imported_once(fake, log, state, tmp_path)
    damage, said = DAMAGED[case]
    damage(data)
    state.write_text(json.dumps(data))
    append(log, "s", 6, 5)
    result = run_cli(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 7, result.stderr
    assert f"state file {state}: {said}" in result.stderr
    assert "restore it from a backup, or move it away to start afresh" in result.stderr
    assert "internal error" not in result.stderr
    assert imported(fake) == {n: 1 for n in expect("s", 1, 5)}  # nothing more was sent on a guess
    shown = run_cli(*piwik_args(fake, f"--state-file={state}", "--show-state"), cwd=tmp_path)
    assert shown.returncode == 7 and said in shown.stderr


def test_a_damaged_journal_is_named_with_its_line(fake: FakePiwikPro, tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    imported_once(fake, log, state, tmp_path)
    journal = Path(f"{state}.journal")
    journal.write_text('{"acked": {"ab' + "\n" + '{"acked": "x"}\n')  # a torn line is skipped; a wrong one is not
    append(log, "s", 6, 5)
    result = run_cli(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 7, result.stderr
    assert f"state file {journal}: line 2: acked is 'x', not an object of fingerprints" in result.stderr
    assert "restore it, or move it away (the lines it records as accepted since the last snapshot" in result.stderr
    assert "internal error" not in result.stderr
    journal.unlink()  # the fix the message gives
    again = run_cli(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert again.returncode == 0, again.stderr
    assert imported(fake) == {n: 1 for n in expect("s", 1, 10)}


def test_a_state_of_a_newer_version_is_not_taken_for_ours(fake: FakePiwikPro, tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    data = imported_once(fake, log, state, tmp_path)
    data["version"] = 99
    state.write_text(json.dumps(data))
    append(log, "s", 6, 5)
    result = run_cli(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 7, result.stderr
    assert f"state file {state} was written by a newer import-logs (state version 99; this one reads" in (result.stderr)
    assert json.loads(state.read_text())["version"] == 99  # not overwritten by this older one
    assert imported(fake) == {n: 1 for n in expect("s", 1, 5)}


def test_a_state_that_is_a_directory_cannot_be_read(fake: FakePiwikPro, tmp_path: Path) -> None:
    """The default state path (--state-file itself refuses a directory as a wrong option, exit 2)."""
    log = tmp_path / "access.log"
    append(log, "s", 1, 5)
    summary = tmp_path / "summary.json"
    first = run_cli(*piwik_args(fake, f"--summary-json={summary}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert first.returncode == 0, first.stderr
    state = Path(json.loads(summary.read_text())["state_file"])
    state.unlink()
    state.mkdir()
    result = run_cli(*piwik_args(fake, str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 7, result.stderr
    assert f"state file {state}: cannot be read (Is a directory). Let this user read it" in result.stderr


# --- permissions: root passes every permission check, so the CLI runs without that power -------------------------


def without_override() -> Callable[[], None] | None:
    """A preexec_fn that makes root subject to file permissions, as any other user (it drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so the executed CLI has neither); None
    when not root. Skips the test where that cannot be done."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl")

    try:
        probe = subprocess.run(["true"], preexec_fn=drop, check=True)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("running as root, and root's permission override cannot be dropped here")
    assert probe.returncode == 0
    return drop


def run_as_user(*args: str, cwd: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "import_logs", *args],
        cwd=cwd,
        env={**os.environ, **SECRET_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=preexec,
    )


def test_an_unreadable_state_exits_7_with_its_fix(fake: FakePiwikPro, tmp_path: Path) -> None:
    drop = without_override()
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    imported_once(fake, log, state, tmp_path)
    state.chmod(0)
    result = run_as_user(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, preexec=drop)
    assert result.returncode == 7, result.stderr
    assert f"state file {state}: cannot be read (Permission denied). Let this user read it" in result.stderr


def test_a_read_only_directory_exits_7_with_its_fix(fake: FakePiwikPro, tmp_path: Path) -> None:
    drop = without_override()
    log, directory = tmp_path / "access.log", tmp_path / "states"
    append(log, "s", 1, 5)
    directory.mkdir()
    directory.chmod(0o555)
    try:
        fresh = run_as_user(*piwik_args(fake, f"--state-file={directory}/a.json", str(log)), cwd=tmp_path, preexec=drop)
        assert fresh.returncode == 7, fresh.stderr
        assert f"state file {directory}/a.json: cannot be created (Permission denied). Let this user write" in (
            fresh.stderr
        )
        # The directory made read-only after a first run: the state is read, and cannot be saved.
        directory.chmod(0o755)
        first = run_cli(*piwik_args(fake, f"--state-file={directory}/b.json", str(log)), cwd=tmp_path, env=SECRET_ENV)
        assert first.returncode == 0, first.stderr
        Path(f"{directory}/b.json.journal").unlink()
        directory.chmod(0o555)
        append(log, "s", 6, 5)
        later = run_as_user(*piwik_args(fake, f"--state-file={directory}/b.json", str(log)), cwd=tmp_path, preexec=drop)
        assert later.returncode == 7, later.stderr
        assert f"state file {directory}/b.json.journal: cannot be written (Permission denied)" in later.stderr
        assert f"let this user write {directory} (mounted read-write)" in later.stderr
        assert fake.hits and imported(fake) == {n: 1 for n in expect("s", 1, 5)}
    finally:
        directory.chmod(0o755)


def test_a_read_only_file_system_exits_7(fake: FakePiwikPro, tmp_path: Path) -> None:
    """A read-only bind mount in a mount namespace of the CLI's own (where the system allows one)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root")
    log, directory = tmp_path / "access.log", tmp_path / "states"
    append(log, "s", 1, 5)
    directory.mkdir()
    args = " ".join(f"'{a}'" for a in piwik_args(fake, f"--state-file={directory}/a.json", str(log)))
    script = f"mount --bind -o ro '{directory}' '{directory}' || exit 99; exec '{sys.executable}' -m import_logs {args}"
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        cwd=tmp_path,
        env={**os.environ, **SECRET_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode == 99:
        pytest.skip("no read-only bind mount here")
    assert result.returncode == 7, result.stderr
    assert f"state file {directory}/a.json: cannot be created (Read-only file system)" in result.stderr


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "cannot be read (Permission denied)"),
        (OSError(errno.EIO, "Input/output error"), "cannot be read (Input/output error)"),
    ],
)
def test_a_state_that_cannot_be_read_is_a_state_error_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: OSError, said: str
) -> None:
    """The same code path, whoever runs the tests: reading the snapshot raises."""
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "sources": []}')
    real = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == path:
            raise fault
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(StateFileError) as raised:
        StateFile(str(path), "https://example#1", lock_timeout=0).__enter__()
    assert f"state file {path}: {said}" in str(raised.value)
    assert exit_code_for(raised.value) == ExitCode.STATE


def test_a_lock_that_cannot_be_created_is_a_state_error_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    real = os.open

    def refuse(name: Any, *args: Any, **kwargs: Any) -> int:
        if str(name).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(StateFileError) as raised:
        StateFile(str(path), "https://example#1", lock_timeout=0).__enter__()
    assert f"state file {path}: cannot be created (Read-only file system)" in str(raised.value)
    assert exit_code_for(raised.value) == ExitCode.STATE


# --- item 16: --show-state names where each log's content is now -----------------------------------------------


def test_show_state_names_the_rotated_copies_where_each_log_is_now(fake: FakePiwikPro, tmp_path: Path) -> None:
    """Imported as `access.log` each time (cron on one name), rotated twice: three entries last seen as
    access.log, whose content is now in access.log.2.gz, access.log.1 and access.log."""
    log = tmp_path / "access.log"
    for tag in "abc":
        if log.exists():
            if (tmp_path / "access.log.1").exists():
                with (tmp_path / "access.log.1").open("rb") as f, gzip.open(tmp_path / "access.log.2.gz", "wb") as z:
                    z.write(f.read())
                (tmp_path / "access.log.1").unlink()
            log.rename(tmp_path / "access.log.1")
        append(log, tag, 1, 5)
        result = run_cli(*piwik_args(fake, str(log)), cwd=tmp_path, env=SECRET_ENV)
        assert result.returncode == 0, result.stderr
    shown = run_cli(*piwik_args(fake, "--show-state"), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()[2:]
    assert [line.strip().split(": next line")[0] for line in lines] == [
        f"{tmp_path}/access.log.2.gz (last seen as access.log)",
        f"{tmp_path}/access.log.1 (last seen as access.log)",
        f"{log}",
    ]
    (tmp_path / "access.log.2.gz").unlink()
    shown = run_cli(*piwik_args(fake, "--show-state"), cwd=tmp_path)
    assert f"{log} (its content is no longer there nor beside it: rotated away or deleted): next line 6" in (
        shown.stdout
    )


def test_a_first_run_killed_before_its_first_snapshot_leaves_a_journal_that_is_read(tmp_path: Path) -> None:
    """A new entry is journaled, not snapshotted, when its source starts: a run killed before its first snapshot
    leaves only the journal, and the next run must read it (its entry, the lines accepted, the bound in flight)."""
    path = str(tmp_path / "state.json")
    with StateFile(path, "https://t/#1") as state:
        entry = state.add(b"first line\n", "/var/log/a.log", compressed=False)
        assert state.saved_as(entry) == "new"
        state.record_in_flight(95)
        state.record_entry(entry)
        state.record({entry.fingerprint: [1, 2, 3]})
    assert not Path(path).exists()  # no snapshot was ever written
    with StateFile(path, "https://t/#1") as again:
        (found,) = again.entries
        assert (found.fingerprint, found.acked) == (entry.fingerprint, [1, 2, 3])
        assert not again.previous_clean and again.previous_in_flight == 95
        assert again.saved_as(found) == "changed"  # in no snapshot yet: the next start saves one
        again.save(clean=True)
        assert again.saved_as(found) == "same"
        again.update(found, offset=10, line=3)
        assert again.saved_as(found) == "changed"


def test_a_snapshot_at_a_source_start_keeps_the_lines_a_killed_run_had_accepted(tmp_path: Path) -> None:
    """A source whose entry changed when it starts (renamed by rotation) is snapshotted at once; the lines the
    run before had accepted beyond its checkpoint, known from the journal only, must be in that snapshot, or the
    next crash forgets them and they are sent twice."""
    from import_logs.checkpoint.ledger import Ledger

    path = tmp_path / "state.json"
    with StateFile(str(path), "https://t/#1") as state:
        entry = state.add(b"first line\n", "/var/log/a.log", compressed=False)
        state.save(clean=True)
        state.record({entry.fingerprint: [5, 6]})  # accepted; then the run is killed before its next snapshot
    with StateFile(str(path), "https://t/#1") as again:
        (found,) = again.entries
        assert found.acked == [5, 6]
        again.update(found, path="/var/log/a.log.1")
        assert again.saved_as(found) == "changed"
        Ledger(again, in_flight_bound=10).track(0, found)
        saved = json.loads(path.read_text())["sources"]
    assert [(s["path"], s["acked"]) for s in saved] == [("/var/log/a.log.1", [5, 6])]
    with StateFile(str(path), "https://t/#1") as unchanged:
        (same,) = unchanged.entries
        before = path.stat().st_mtime_ns
        Ledger(unchanged, in_flight_bound=10).track(0, same)  # as the snapshot holds it: nothing written
        assert path.stat().st_mtime_ns == before
