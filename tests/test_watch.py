"""Watching a run (issue #25): /metrics and /healthz while the real command follows a log and the fake tracker
fails for a while, the status line, JSON messages, and a listener address that cannot work."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro, Fault
from prometheus_client.parser import text_string_to_metric_families
from test_follow import FOLLOW, Log, all_once, pages, wait_for

SENT = 'import_logs_hits_sent_total{backend="piwikpro"}'


def get(url: str, path: str) -> tuple[int, str]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def metrics(url: str) -> dict[str, float]:
    """Each sample as ``name{label="value",...}`` (labels sorted) → its value."""
    found = {}
    for family in text_string_to_metric_families(get(url, "/metrics")[1]):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def start(fake: FakePiwikPro, cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """The command following, with a listener on a free port; its URL, read from what it says first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "import_logs", *piwik_args(fake, *FOLLOW, "--metrics-listen=127.0.0.1:0", *args)],
        cwd=cwd,
        env={**os.environ, **SECRET_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert found, line
    return proc, found[0]


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    return out, err


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    written = Log(tmp_path / "access.log")
    yield written
    written.handle.close()


def test_metrics_while_following_count_what_the_tracker_accepted(tmp_path: Path, log: Log) -> None:
    log.write(250)
    with FakePiwikPro() as fake:
        proc, url = start(fake, tmp_path, str(log.path), "--recorders=2")
        try:
            wait_for(all_once(fake, 250), "the lines already there")
            log.write(30)
            wait_for(all_once(fake, 280), "the lines written since")
            # the counter is updated before the lane confirms the batch (a few microseconds later)
            wait_for(lambda: (seen := metrics(url))[SENT] == 280 and not seen["import_logs_lanes_busy"], "the counter")
            seen = metrics(url)
            with fake.lock:
                accepted = len(fake.hits)
            assert seen[SENT] == accepted == 280
            assert seen["import_logs_lines_read_total"] == 280
            assert seen[SENT.replace("hits_sent", "requests")] >= 3
            assert seen[f'import_logs_follow_lag_bytes{{file="{log.path}"}}'] == 0
            assert seen["import_logs_oldest_unaccepted_hit_age_seconds"] == 0
            assert time.time() - 30 < seen["import_logs_last_accepted_batch_timestamp_seconds"] <= time.time()
            assert seen["import_logs_lanes"] == 2 and seen["import_logs_lanes_busy"] == 0
            assert seen['import_logs_skipped_total{reason="static"}'] == 0
            assert seen["import_logs_healthy"] == 1
            assert get(url, "/healthz") == (200, "ok\n")
            assert get(url, "/other")[0] == 404
        finally:
            out, _ = stop(proc)
        assert "280 requests imported successfully" in out


def test_healthz_turns_503_while_the_tracker_fails_and_200_again(tmp_path: Path, log: Log) -> None:
    """A tracker that does not answer for a while, then refuses (503) for a while: /healthz, probed all along,
    answers 200, then 503 with the reason, then 200 once the hits are accepted; nothing is lost."""
    log.write(20)
    with FakePiwikPro() as fake:
        proc, url = start(fake, tmp_path, str(log.path), "--unhealthy-after=1", "--retry-delay=0.3")
        try:
            wait_for(all_once(fake, 20), "the first lines")
            assert get(url, "/healthz") == (200, "ok\n")
            fake.fail_next("track", Fault(delay=2.0, status=503), *[Fault(status=503)] * 3)
            log.write(10)
            answers: list[tuple[int, str]] = []
            deadline = time.monotonic() + 30
            while sum(pages(fake).values()) < 30 and time.monotonic() < deadline:
                answers.append(get(url, "/healthz"))
                time.sleep(0.05)
            time.sleep(0.2)
            answers.append(get(url, "/healthz"))
            seen = metrics(url)
        finally:
            stop(proc)
    statuses = [status for status, _ in answers]
    runs = [status for i, status in enumerate(statuses) if i == 0 or statuses[i - 1] != status]
    assert runs == [200, 503, 200], runs
    reasons = {text for status, text in answers if status == 503}
    assert any("the tracker has accepted no hit for" in text and "no answer yet" in text for text in reasons)
    assert any("HTTP 503" in text for text in reasons), reasons
    assert seen['import_logs_retries_total{backend="piwikpro"}'] >= 3
    assert seen[SENT] == 30 == sum(pages(fake).values())


def test_the_status_line_shows_signs_of_life_even_with_quiet(tmp_path: Path, log: Log) -> None:
    log.write(12)
    with FakePiwikPro() as fake:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "import_logs",
                *piwik_args(fake, *FOLLOW, "--quiet", "--status-interval=0.5", "--message-format=json"),
                str(log.path),
            ],
            cwd=tmp_path,
            env={**os.environ, **SECRET_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            wait_for(all_once(fake, 12), "the lines")
            time.sleep(1.2)
        finally:
            _, err = stop(proc)
    lines = [json.loads(line) for line in err.splitlines()]
    status = [line for line in lines if line["message"].startswith("status: ")]
    assert len(status) >= 2, err
    assert sum(line["hits_sent"] for line in status) == 12 == status[-1]["hits_sent_total"]
    assert all(line["level"] == "info" and line["lag_bytes"] == 0 for line in status)
    assert "12 hits sent" in lines[-1]["message"] and lines[-1]["summary"]["hits_sent"] == 12


def test_messages_as_json_lines(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text((SAMPLES / "common_complete.log").read_text())
    done = run_cli(*piwik_args(fake, "--message-format=json", "-v", "--workers=1"), str(log), cwd=tmp_path,
                   env=SECRET_ENV)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the summary too is a message, on stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]) for line in lines)
    rejected = [line for line in lines if "reason" in line]
    assert rejected and all(line["file"] == str(log) and line["line"] > 0 for line in rejected)
    assert {"invalid: no_match", "skipped: static"} <= {line["reason"] for line in rejected}
    summary = lines[-1]
    assert summary["message"].startswith("20 new lines in 1 file:")
    assert summary["summary"]["hits_sent"] == len(fake.hits) and summary["summary"]["exit_code"] == 0

    failed = run_cli("--message-format=json", "--url=http://127.0.0.1:1", "--idsite=1", str(log), cwd=tmp_path)
    (error,) = [json.loads(line) for line in failed.stderr.splitlines()]
    assert failed.returncode == 2 and error["level"] == "error" and "--client-id" in error["message"]


def _in_use() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _unprivileged_port_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except OSError:
        return 1024


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("in-use", "is in use (another import-logs, or another exporter?); choose another port."),
        ("192.0.2.1:9464", "'192.0.2.1' is not an address of this machine; give one, e.g. 127.0.0.1."),
        ("9464", "give HOST:PORT, e.g. 127.0.0.1:9464"),
        ("127.0.0.1:70000", "give HOST:PORT, e.g. 127.0.0.1:9464"),
        ("privileged", "not allowed to listen on port 1 (below 1024"),
    ],
)
def test_a_listener_that_cannot_work_stops_before_anything_is_read(
    fake: FakePiwikPro, tmp_path: Path, listen: str, message: str
) -> None:
    held = None
    if listen == "in-use":
        held = _in_use()
        listen = f"127.0.0.1:{held.getsockname()[1]}"
    elif listen == "privileged":
        if os.geteuid() == 0 or _unprivileged_port_start() <= 1:
            pytest.skip("this user may listen on any port (see the next test)")
        listen = "127.0.0.1:1"
    log = tmp_path / "access.log"
    log.write_text((SAMPLES / "common_complete.log").read_text())
    try:
        done = subprocess.run(
            [sys.executable, "-m", "import_logs", *piwik_args(fake, f"--metrics-listen={listen}"), str(log)],
            cwd=tmp_path,
            env={**os.environ, **SECRET_ENV},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        if held is not None:
            held.close()
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"import-logs: error: --metrics-listen {listen}") and message in done.stderr
    assert not fake.hits and not fake.requests
    assert "lines parsed" not in done.stdout + done.stderr


def test_a_port_this_user_may_not_listen_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root, the CLI test above cannot see the refusal: the error the system gives is made here."""
    from import_logs.cli import metrics
    from import_logs.errors import ConfigError
    from import_logs.stats import Live, Stats

    def refuse(*_args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(metrics._Server, "server_bind", refuse)
    watched = metrics.Watched(Stats(), Live, 120.0, {"backend": "matomo"})
    with pytest.raises(ConfigError, match=r"^--metrics-listen 127.0.0.1:80: not allowed to listen on port 80 \(below"):
        metrics.Listener("127.0.0.1:80", watched)


def test_prometheus_client_is_loaded_only_when_asked_for() -> None:
    code = "import sys, import_logs.cli, import_logs.pipeline; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
