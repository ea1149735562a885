"""How a run ends when it is asked to, or when what it writes to has gone (issue #22).

The real CLI against the fake server on 127.0.0.1. Log lines carry their tag and number in their path (see
``test_resume``), so the server's hits say what was imported, and how often.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro, Fault
from test_resume import append, expect, imported, start

# --- a stop while the server does not answer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signals", "code", "said"),
    [((signal.SIGTERM,), 143, "stopped by SIGTERM"), ((signal.SIGINT, signal.SIGINT), 130, "stopped by Ctrl-C")],
    ids=["sigterm", "ctrl-c-twice"],
)
def test_a_stop_ends_the_run_within_seconds_while_a_request_hangs(
    signals: tuple[int, ...], code: int, said: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    append(log, "h", 1, 200)
    state, summary = tmp_path / "state.json", tmp_path / "summary.json"
    with FakePiwikPro() as fake:
        fake.fail_next("track", Fault(hang=True))  # taken in, never answered (the request timeout is 300 s)
        args = piwik_args(
            fake, "--workers=1", "--recorders=2", "--recorder-max-payload-size=10", f"--state-file={state}", str(log)
        )
        proc = start([*args, f"--summary-json={summary}"], tmp_path, output=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not fake.tracking_requests() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)  # the other lane sent what it could; this one waits for its answer
            stopped_at = time.monotonic()
            for signum in signals:
                proc.send_signal(signum)
                time.sleep(0.2)
            _, err = proc.communicate(timeout=20)
            took = time.monotonic() - stopped_at
        finally:
            if proc.poll() is None:  # before the fix: still waiting for the answer
                proc.kill()
                proc.communicate()
        assert proc.returncode == code, err
        assert took < 5, f"the stop took {took:.1f} s"
        assert f"import-logs: {said}." in err
        assert "attempt 2" not in err.split("stopping", 1)[-1], err  # no new attempt once stopping
        figures = json.loads(summary.read_text())
        assert figures["exit_code"] == code
        assert state.exists()
        again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode == 0, again.stderr
        counts = imported(fake)
    assert set(counts) == expect("h", 1, 200)  # nothing lost
    assert max(counts.values()) == 1  # the abandoned request stored nothing: nothing sent twice either


# --- the reader of --save-requests goes away ----------------------------------------------------------------


def test_save_requests_to_a_pipe_closed_after_one_line_ends_quietly(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "p", 1, 500)
    args = ["--idsite=1", "--no-progress", "--workers=1", "--recorder-max-payload-size=5", "--save-requests=-"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "import_logs", *args, str(log)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=30) == 141, err  # 128 + SIGPIPE, as the shell reports a tool ended by the pipe
    assert json.loads(first)["idsite"] == "1"
    assert err == ""  # no "internal error", no traceback, no "Exception ignored"


def test_lines_not_written_to_a_closed_fifo_are_written_by_the_next_run(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "f", 1, 500)
    fifo = tmp_path / "requests.fifo"
    os.mkfifo(fifo)
    args = ["--idsite=1", "--no-progress", "--workers=1", "--recorder-max-payload-size=5", f"--save-requests={fifo}"]

    def run_reading(lines: int | None) -> tuple[subprocess.Popen[str], list[str]]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "import_logs", *args, str(log)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        read: list[str] = []
        with fifo.open() as reader:
            while lines is None or len(read) < lines:
                line = reader.readline()
                if not line:
                    break
                read.append(line)
        proc.communicate(timeout=30)
        return proc, read

    cut, head = run_reading(1)
    assert cut.returncode == 141
    rest, tail = run_reading(None)
    assert rest.returncode == 0
    urls = [json.loads(line)["url"].split("/p/", 1)[1] for line in head + tail]
    assert set(urls) == expect("f", 1, 500)  # the lines the closed pipe never took were not marked as done
