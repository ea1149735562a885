"""What a new user and a fault injector found (issue #15): each case failed before its fix.

The real CLI, with its real worker processes, against the fake servers on 127.0.0.1. Log lines carry their
tag and number in their path (see ``test_resume``), so the servers' hits say what was imported, and how often.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import SECRET_ENV, lock_held, piwik_args, run_cli
from fake_others import FakeMatomo, FakePirsch
from fake_server import FakePiwikPro, Fault
from test_resume import append, expect, imported, log_lines, start

MAINTENANCE = Fault(
    status=200,
    body="<html><head><title>Down for maintenance</title></head><body>Back soon.</body></html>",
    content_type="text/html",
)


def urls(hits: list[dict[str, str]]) -> Counter[str]:
    return Counter(h["url"].split("/p/", 1)[1] for h in hits)


# --- 1. a success status that is not the tracker's answer ----------------------------------------------------


#: Per backend: its fake, the options and environment of an import into it, and its name in messages.
BACKENDS = {
    "piwikpro": (FakePiwikPro, lambda url: [*piwik_args_for(url), "--recorders=1"], SECRET_ENV, "Piwik PRO"),
    "matomo": (
        FakeMatomo,
        lambda url: [f"--url={url}", "--idsite=1"],
        {"IMPORT_LOGS_TOKEN_AUTH": "secret-token"},
        "Matomo",
    ),
    "pirsch": (
        FakePirsch,
        lambda url: ["--backend=pirsch", f"--url={url}"],
        {"IMPORT_LOGS_CLIENT_SECRET": "pa_access-key"},
        "Pirsch",
    ),
}


def piwik_args_for(url: str) -> list[str]:
    return [f"--url={url}", "--client-id=client-id", "--idsite=app-uuid-1"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_maintenance_page_with_200_is_not_an_import(backend: str, tmp_path: Path) -> None:
    fake_class, options, env, name = BACKENDS[backend]
    log = tmp_path / "access.log"
    append(log, "m", 1, 30)
    with fake_class() as fake:
        fake.fail_next("track", MAINTENANCE)
        args = [*options(fake.url), "--retry-delay=0.01", "--no-progress", "--recorder-max-payload-size=10", str(log)]
        first = run_cli(*args, cwd=tmp_path, env=env)
        assert first.returncode == 5, first.stderr
        assert "answered HTTP 200 with text/html (<html><head><title>Down for maintenance" in first.stderr
        assert f"which is not the answer of a {name} tracker" in first.stderr
        assert "access.log:1 was not counted as imported" in first.stderr
        assert fake.hits == []
        again = run_cli(*args, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert urls(fake.hits) == Counter(expect("m", 1, 30))


def test_piwik_pro_answers_it_documents_are_accepted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 3)
    for fault in (
        Fault(status=204),
        Fault(status=200),  # empty
        Fault(status=200, body="GIF89a", content_type="image/gif"),
        Fault(status=200, body='{"status":"ok"}', content_type="application/json"),
    ):
        with FakePiwikPro() as fake:
            fake.fail_next("track", fault)
            result = run_cli(*piwik_args(fake, "--workers=1", str(log)), cwd=tmp_path, env=SECRET_ENV)
            assert result.returncode == 0, (fault, result.stderr)  # each fake a new port: a state of its own


def test_matomo_success_that_stores_nothing_is_sent_again_then_stops(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "z", 1, 20)
    with FakeMatomo() as matomo:
        matomo.silent_drops = 10**6  # "status": "success", "tracked": 0, "invalid": 0 for every batch
        args = [f"--url={matomo.url}", "--idsite=1", "--retry-delay=0.01", "--no-progress", str(log)]
        env = {"IMPORT_LOGS_TOKEN_AUTH": "secret-token"}
        first = run_cli(*args, cwd=tmp_path, env=env)
        assert first.returncode == 5, first.stderr
        assert "Matomo answered success but stored none of the 20 hits of the batch starting at" in first.stderr
        assert len(matomo.tracking_requests()) == 2  # once more, then it stops
        matomo.silent_drops = 0
        again = run_cli(*args, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert urls(matomo.hits) == Counter(expect("z", 1, 20))


def test_a_truncated_gz_is_named_the_others_imported_and_it_is_finished_when_whole(
    fake: FakePiwikPro, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for tag in ("a", "c"):
        (logs / f"{tag}.log.gz").write_bytes(gzip.compress(log_lines(tag, 1, 200).encode()))
    whole = gzip.compress(log_lines("b", 1, 3000).encode())
    (logs / "b.log.gz").write_bytes(whole[: len(whole) * 2 // 3])  # logrotate still compressing
    args = piwik_args(fake, "--workers=2", str(logs / "*.gz"))
    first = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert first.returncode == 3, first.stderr
    assert "b.log.gz: ends early: truncated after" in first.stderr
    assert "a later run imports the rest once the file is complete" in first.stderr
    assert "Files not read to their end" in first.stdout and "b.log.gz: ends early" in first.stdout
    counts = imported(fake)
    assert expect("a", 1, 200) | expect("c", 1, 200) <= set(counts)
    assert max(counts.values()) == 1
    partly = {k for k in counts if k.startswith("b/")}
    assert partly and partly == expect("b", 1, len(partly))  # the lines before the cut, in order
    again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)  # still truncated: nothing twice, still named
    assert again.returncode == 3, again.stderr
    assert imported(fake) == counts
    (logs / "b.log.gz").write_bytes(whole)  # compression finished
    last = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert last.returncode == 0, last.stderr
    assert imported(fake) == Counter(expect("a", 1, 200) | expect("b", 1, 3000) | expect("c", 1, 200))


def test_a_damaged_gz_is_named_as_corrupt(fake: FakePiwikPro, tmp_path: Path) -> None:
    data = bytearray(gzip.compress(log_lines("d", 1, 3000).encode()))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    (tmp_path / "d.log.gz").write_bytes(bytes(data))
    append(tmp_path / "e.log", "e", 1, 10)
    result = run_cli(
        *piwik_args(fake, "--workers=1", str(tmp_path / "d.log.gz"), str(tmp_path / "e.log")),
        cwd=tmp_path,
        env=SECRET_ENV,
    )
    assert result.returncode == 3, result.stderr
    assert "d.log.gz: is corrupt after" in result.stderr
    assert expect("e", 1, 10) <= set(imported(fake))


# --- 3. a forced format that reads no line --------------------------------------------------------------------


def test_a_forced_format_that_reads_none_of_the_first_lines_stops_like_failed_detection(
    fake: FakePiwikPro, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_text(log_lines("f", 1, 40).replace("www.example.com ", ""))  # combined, without the vhost
    forced = run_cli(*piwik_args(fake, "--log-format-name=common_vhost", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert forced.returncode == 3, forced.stderr
    assert "access.log: the format common_vhost given by --log-format-name reads none of the first lines." in (
        forced.stderr
    )
    assert "Leave --log-format-name out to detect the format (see --list-formats)" in forced.stderr
    assert fake.hits == []
    detected = run_cli(*piwik_args(fake, str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert detected.returncode == 0, detected.stderr
    assert imported(fake) == Counter(expect("f", 1, 40))


def test_new_lines_that_are_all_invalid_are_named_and_not_marked_done(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "g", 1, 30)
    args = piwik_args(fake, "--workers=1", str(log))
    assert run_cli(*args, cwd=tmp_path, env=SECRET_ENV).returncode == 0
    with log.open("a") as f:  # the server's log format was changed
        f.writelines(f'{{"time": "2024-03-01T00:00:{n:02d}Z", "uri": "/p/g/{n}"}}\n' for n in range(31, 61))
    for _ in range(2):  # said again on every run: the state did not move past them
        result = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert result.returncode == 3, result.stderr
        assert "access.log: none of its 30 lines could be read as common_complete" in result.stderr
        assert "none of its 30 lines is a valid common_complete line" in result.stdout
    assert imported(fake) == Counter(expect("g", 1, 30))


# --- 4. the files of a log, oldest first ----------------------------------------------------------------------


def test_rotated_files_are_read_oldest_first_however_the_shell_or_glob_sorts_them(
    fake: FakePiwikPro, tmp_path: Path
) -> None:
    # access.log.12.gz is the oldest day, access.log the newest; one visitor's hits across all of them.
    names = ["access.log.12.gz", "access.log.11.gz", "access.log.3.gz", "access.log.2.gz", "access.log.1"]
    names.append("access.log")
    first = 1
    for name in names:
        text = log_lines("r", first, 20)
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
        first += 20
    shell_sorted = sorted(str(tmp_path / n) for n in names)  # what `access.log*` expands to
    result = run_cli(*piwik_args(fake, "--workers=2", "-v", *shell_sorted), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    order = ", ".join(str(tmp_path / n) for n in names)
    assert f"reading {order} (each log's files oldest first, the logs side by side)" in result.stderr
    numbers = [int(h["url"].rsplit("/", 1)[1]) for h in fake.hits]
    assert sorted(numbers) == list(range(1, first))
    for ip in {h["cip"] for h in fake.hits}:  # each visitor's hits reached the server in the log's order
        theirs = [int(h["url"].rsplit("/", 1)[1]) for h in fake.hits if h["cip"] == ip]
        assert theirs == sorted(theirs), ip


def test_the_glob_itself_is_ordered_oldest_first(fake: FakePiwikPro, tmp_path: Path) -> None:
    for age, name in enumerate(["access.log-20261127.gz", "access.log-20261128.gz", "access.log"]):
        text = log_lines("d", 1 + 10 * age, 10)
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    result = run_cli(*piwik_args(fake, "--workers=1", str(tmp_path / "access.log*")), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert [int(h["url"].rsplit("/", 1)[1]) for h in fake.hits] == list(range(1, 31))


# --- 5a. copytruncate while the file is being read ------------------------------------------------------------


def long_lines(tag: str, first: int, count: int) -> str:
    """Lines of ~1 KB (a long user agent), so that a few thousand fill several 1 MiB blocks."""
    return log_lines(tag, first, count).replace("Mozilla/5.0 test", "Mozilla/5.0 " + "x" * 900)


def test_copytruncate_during_a_read_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(long_lines("t", 1, 6000))  # about 6 blocks
    with FakePiwikPro() as fake:
        fake.fail_next("track", Fault(delay=3.0))  # the first request waits: the reading stalls behind it
        args = piwik_args(fake, "--workers=1", "--recorders=2")
        proc = start([*args, str(log)], tmp_path, output=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not fake.tracking_requests() and time.monotonic() < deadline:
            time.sleep(0.02)
        shutil.copyfile(log, tmp_path / "access.log.1")  # logrotate's copytruncate
        with log.open("r+") as f:
            f.truncate(0)
        append(log, "n", 1, 5)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "access.log: became shorter or was removed while it was read (rotated by copytruncate" in err
        again = run_cli(*args, str(tmp_path / "access.log*"), cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode == 0, again.stderr
        assert imported(fake) == Counter(expect("t", 1, 6000) | expect("n", 1, 5))


# --- 5b. a crash at the first snapshot of the next run --------------------------------------------------------


def test_lines_accepted_before_a_crash_survive_a_second_crash_at_the_first_snapshot(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "k", 1, 400)
    state = tmp_path / "state.json"
    recorders, payload = 2, 5
    with FakePiwikPro(track_delay=0.005) as fake:
        args = piwik_args(
            fake,
            "--workers=1",
            f"--recorders={recorders}",
            f"--recorder-max-payload-size={payload}",
            f"--state-file={state}",
            str(log),
        )
        first = start(args, tmp_path, output=subprocess.DEVNULL)  # killed after 150 hits were accepted
        deadline = time.monotonic() + 30
        while len(fake.hits) < 150 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.kill()
        first.wait(timeout=10)
        fake.track_delay = 5.0  # the second run gets nothing accepted before it is killed
        inode = state.stat().st_ino
        second = start(args, tmp_path, output=subprocess.DEVNULL)  # killed at its first snapshot
        while state.stat().st_ino == inode and time.monotonic() < deadline:
            time.sleep(0.001)
        second.kill()
        second.wait(timeout=10)
        fake.track_delay = 0.0
        third = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert third.returncode == 0, third.stderr
        counts = imported(fake)
    assert set(counts) == expect("k", 1, 400)
    duplicates = sum(n - 1 for n in counts.values())
    # Each killed run may leave a batch per lane in flight, which the slow server stores after the kill (the
    # second run's first snapshot comes with its first accepted batch: a source that starts as the last snapshot
    # holds it writes none). Lines accepted by the first run and lost by the second would be many more.
    assert duplicates <= 2 * recorders * payload, f"{duplicates} lines sent twice"
    announced = re.search(r"up to (\d+) of its hits may have been accepted", third.stderr)
    assert announced is not None and duplicates <= int(announced[1])


# --- 5d. the lock file deleted under a running import ---------------------------------------------------------


def test_deleting_the_lock_file_does_not_let_a_second_run_in(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "l", 1, 200)
    state = tmp_path / "state.json"
    lock = tmp_path / "state.json.lock"
    with FakePiwikPro(track_delay=0.05) as fake:
        args = piwik_args(fake, "--workers=1", "--recorders=1", "--recorder-max-payload-size=5")
        args += [f"--state-file={state}", str(log)]
        holder = start(args, tmp_path, output=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not fake.tracking_requests() and time.monotonic() < deadline:
            time.sleep(0.01)
        lock.unlink()  # "a stale pid file"
        second = run_cli(*args, "--lock-timeout=0.5", cwd=tmp_path, env=SECRET_ENV)
        assert second.returncode == 75, second.stderr
        assert f"another import (pid {holder.pid}) is using the state file {state}; waited 0.5 s." in second.stderr
        holder.communicate(timeout=60)
        assert holder.returncode == 0
        assert imported(fake) == Counter(expect("l", 1, 200))


# --- 8. the summary's equation on a resumed run -----------------------------------------------------------------


def test_a_resumed_run_counts_each_line_once(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "s", 1, 300)
    summary = tmp_path / "summary.json"
    with FakePiwikPro(track_delay=0.01) as fake:
        args = piwik_args(fake, "--workers=1", "--recorders=2", "--recorder-max-payload-size=5", str(log))
        first = start([*args, f"--summary-json={summary}"], tmp_path, output=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(fake.hits) < 100 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 143
        stopped = json.loads(summary.read_text())
        again = run_cli(*args, f"--summary-json={summary}", cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode == 0, again.stderr
        d = json.loads(summary.read_text())
    assert d["lines_parsed"] + d["already_imported"] == 300
    assert d["lines_parsed"] == d["hits_kept"] + d["skipped_total"] + d["invalid_total"]
    assert d["hits_kept"] == d["hits_sent"] + d["hits_rejected"] + d["hits_dropped_by_server"] + d["hits_not_sent"]
    assert stopped["hits_sent"] + d["hits_sent"] >= 300  # the in-flight ones may be counted by both


# --- 7. what a stop and a crash leave behind is always said -----------------------------------------------------


def test_the_resend_warning_is_shown_with_quiet_and_counted_in_the_json(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "w", 1, 300)
    summary = tmp_path / "summary.json"
    with FakePiwikPro(track_delay=0.01) as fake:
        args = piwik_args(fake, "--workers=1", "--recorders=2", "--recorder-max-payload-size=5", str(log))
        first = start(args, tmp_path, output=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(fake.hits) < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.kill()
        first.wait(timeout=10)
        again = run_cli(*args, "--quiet", f"--summary-json={summary}", cwd=tmp_path, env=SECRET_ENV)
    assert again.returncode == 0, again.stderr
    assert "the previous run stopped while sending: up to 10 of its hits may have been accepted" in again.stderr
    assert json.loads(summary.read_text())["previous_run_in_flight"] == 10
    assert oct(summary.stat().st_mode & 0o777) == "0o600"  # it names files and hosts


def test_a_stop_says_it_waits_for_the_requests_under_way(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "q", 1, 50)
    with FakePiwikPro(track_delay=1.0) as fake:
        proc = start(piwik_args(fake, "--workers=1", "--recorders=1", str(log)), tmp_path, output=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # signed in, the first batch under way
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "stopping: waiting up to 1.5 s for the requests under way, then saving the state" in err
    assert "import-logs: stopped by SIGTERM." in err


def test_waiting_for_the_lock_is_said(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "a", 1, 10)
    state = tmp_path / "state.json"
    with lock_held(Path(f"{state}.lock")):
        args = piwik_args(fake, f"--state-file={state}", "--lock-timeout=0.5", "--quiet", str(log))
        result = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 75
    assert "another import (pid 4242) is using the state file" in result.stderr
    assert "waiting up to 0.5 s (--lock-timeout) for it to finish" in result.stderr


# --- 9. output for scripts and cron -----------------------------------------------------------------------------


def test_a_failed_run_says_so_in_the_json_and_prints_no_summary_of_zeros(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "e", 1, 10)
    result = run_cli(
        *piwik_args(fake, "--summary-json=-", str(log)),
        cwd=tmp_path,
        env={"IMPORT_LOGS_CLIENT_SECRET": "wrong"},
    )
    assert result.returncode == 4
    summary = json.loads(result.stdout)  # the only thing on stdout
    assert summary["exit_code"] == 4 and "refused the API credentials" in summary["error"]
    assert "Logs import summary" not in result.stderr
    assert result.stderr.count("\n") == 1  # one message: the cause and the fix


def test_quiet_prints_nothing_when_nothing_is_new(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "c", 1, 10)
    args = piwik_args(fake, "--quiet", str(log))
    first = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert first.returncode == 0 and first.stdout.startswith("import-logs: 10 new lines in 1 file: 10 hits sent")
    second = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert second.returncode == 6
    assert second.stdout == second.stderr == ""


# --- 5. streams that are not regular files ------------------------------------------------------------------------


def test_dev_stdin_process_substitution_and_a_fifo_are_read_as_streams(fake: FakePiwikPro, tmp_path: Path) -> None:
    text = log_lines("i", 1, 40)
    args = piwik_args(fake, "--workers=1")
    env = {**os.environ, **SECRET_ENV}
    through_stdin = subprocess.run(
        [sys.executable, "-m", "import_logs", *args, "/dev/stdin"],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert through_stdin.returncode == 0, through_stdin.stderr
    assert "/dev/stdin: a stream, with no place in the state: a re-run sends its lines again" in through_stdin.stdout
    assert "lines skipped as already imported" not in through_stdin.stdout
    assert imported(fake) == Counter(expect("i", 1, 40))
    (tmp_path / "p.log").write_text(log_lines("p", 1, 30))
    command = f"{sys.executable} -m import_logs {' '.join(args)} <(cat {tmp_path / 'p.log'})"
    substituted = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert substituted.returncode == 0, substituted.stderr
    assert expect("p", 1, 30) <= set(imported(fake))
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    reader = start([*args, str(fifo)], tmp_path, output=subprocess.PIPE)
    with fifo.open("w") as f:  # the writer comes after the reader, as a log shipper would
        f.write(log_lines("f", 1, 25))
    _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert imported(fake) == Counter(expect("i", 1, 40) | expect("p", 1, 30) | expect("f", 1, 25))


# --- 6. https assumed, TLS failures ----------------------------------------------------------------------------


def test_a_url_without_scheme_on_a_plain_http_server_says_https_was_assumed(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "h", 1, 5)
    bare = fake.url.removeprefix("http://")
    args = [f"--url={bare}", "--client-id=client-id", "--idsite=app-uuid-1", "--no-progress", str(log)]
    result = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 5, result.stderr
    assert f"--url {bare}: no scheme, so https:// is assumed; give http://{bare} for a plain-HTTP server." in (
        result.stderr
    )
    assert "the TLS handshake failed" in result.stderr
    assert "https:// was assumed, since --url has no scheme; give --url=http://... if it serves plain HTTP" in (
        result.stderr
    )
    assert "attempt 2 of" not in result.stderr  # a handshake error is not retried


def test_a_refused_certificate_is_named_and_not_retried(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    make = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*make, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    log = tmp_path / "access.log"
    append(log, "t", 1, 5)
    with FakePiwikPro() as fake:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        fake.server.socket = context.wrap_socket(fake.server.socket, server_side=True)
        url = fake.url.replace("http://", "https://")
        args = [f"--url={url}", "--client-id=client-id", "--idsite=app-uuid-1", "--no-progress", str(log)]
        refused = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert refused.returncode == 5, refused.stderr
        assert "the server's TLS certificate was refused (self-signed certificate)" in refused.stderr
        assert "--accept-invalid-ssl-certificate turns the check off" in refused.stderr
        assert "attempt 2 of" not in refused.stderr
        accepted = run_cli(*args, "--accept-invalid-ssl-certificate", cwd=tmp_path, env=SECRET_ENV)
        assert accepted.returncode == 0, accepted.stderr
        assert imported(fake) == Counter(expect("t", 1, 5))


# --- 11. smaller -----------------------------------------------------------------------------------------------


def test_smaller_things_a_new_user_tripped_on(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "x", 1, 10)
    unknown = run_cli("--dry-run", "--log-format-name=nope", str(log), cwd=tmp_path)
    assert unknown.returncode == 3 and "Run `import-logs --list-formats` to see them" in unknown.stderr
    refused = run_cli("--dry-run", "--recorders=0", str(log), cwd=tmp_path)
    assert refused.returncode == 2 and "0 is not in the range x>=1" in refused.stderr
    nothing = run_cli("--dry-run", cwd=tmp_path)
    assert nothing.returncode == 2 and "no log file given" in nothing.stderr
    assert run_cli(*piwik_args(fake, str(log)), cwd=tmp_path, env=SECRET_ENV).returncode == 0
    shown = run_cli(*piwik_args(fake, "--show-state"), cwd=tmp_path)  # no files needed
    assert shown.returncode == 0 and f"{log}: next line 11" in shown.stdout
    upper = fake.url.replace("http://", "HTTP://")  # one destination, so one state
    again = run_cli(*piwik_args(fake, str(log)), f"--url={upper}", cwd=tmp_path, env=SECRET_ENV)
    assert again.returncode == 6, again.stderr
    forced = run_cli(*piwik_args(fake, "--force-reimport", "--dry-run", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert "--force-reimport: the lines imported before are sent again, and the backend counts them twice" in (
        forced.stderr
    )
    reset = run_cli(*piwik_args(fake, "--reset-state", str(log)), cwd=tmp_path)
    assert reset.returncode == 0 and "forgotten (was imported up to line 10)" in reset.stdout
    everything = run_cli(*piwik_args(fake, "--reset-state"), cwd=tmp_path)
    assert everything.returncode == 0 and "the state holds no file" in everything.stdout


def test_settings_file_errors_name_the_file_and_the_key_as_written(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "x", 1, 3)
    settings = tmp_path / "import-logs.toml"
    settings.write_text('url = "https://trueblue.example"\nrecorder-max-payload-size = "many"\n')
    bad = run_cli(f"--settings={settings}", "--dry-run", str(log), cwd=tmp_path)
    assert bad.returncode == 2
    assert f"{settings}: recorder-max-payload-size = 'many'" in bad.stderr and "is not a valid integer" in bad.stderr
    settings.write_text('url = "https://trueblue.example"\nclient-secrt = "x"\n')
    typo = run_cli(f"--settings={settings}", "--dry-run", str(log), cwd=tmp_path)
    assert typo.returncode == 2 and "unknown key(s) client-secrt;" in typo.stderr


def test_replay_keeps_dp_and_queuedtracking_and_drops_every_form_of_token_auth() -> None:
    from datetime import datetime, timezone

    from import_logs.backends.replay import replay_params, tracking_params
    from import_logs.parsing.hit import Hit

    query = "idsite=3&rec=1&_id=abc&TOKEN_AUTH=s1&token_auth[]=s2&Token_Auth=s3&token_auth=s4&url=u"
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    hit = Hit(when, "1.2.3.4", None, "GET", "/matomo.php", query, 200, 0, "", "ua", None, None)
    params = tracking_params(hit, ("matomo.php",))
    assert params is not None and not any("token" in key.lower() for key in params)
    sent = replay_params(hit, params, "2024-01-01 00:00:00", "3", dp="0")
    assert sent["queuedtracking"] == "0" and sent["dp"] == "0" and sent["_id"] == "abc"


# --- 11a. a full disk, a state file of the wrong shape ----------------------------------------------------------


def _file_size_limit(limit: int) -> None:
    """In the child: files cannot grow past ``limit`` bytes, as on a full disk (EFBIG instead of SIGXFSZ)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_stops_with_its_own_message_and_loses_or_doubles_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "d", 1, 300)
    state = tmp_path / "state.json"
    recorders, payload = 2, 5
    with FakePiwikPro() as fake:
        args = piwik_args(
            fake,
            "--workers=1",
            f"--recorders={recorders}",
            f"--recorder-max-payload-size={payload}",
            f"--state-file={state}",
            str(log),
        )
        full = subprocess.run(
            [sys.executable, "-m", "import_logs", *args],
            env={**os.environ, **SECRET_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            preexec_fn=lambda: _file_size_limit(1500),  # the journal fills the disk after a few batches
        )
        assert full.returncode == 7, full.stderr
        assert f"state file {state}.journal: cannot be written (File too large)" in full.stderr
        assert "internal error" not in full.stderr
        assert not (tmp_path / "state.json.tmp").exists()
        again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
        assert again.returncode == 0, again.stderr
        counts = imported(fake)
    assert set(counts) == expect("d", 1, 300)
    assert sum(n - 1 for n in counts.values()) <= recorders * payload


def test_a_state_file_of_the_wrong_shape_is_named(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "s", 1, 5)
    state = tmp_path / "state.json"
    for wrong, said in (
        ('["not", "a", "state"]', " is JSON but not an import-logs state file"),
        ('{"sources": {"a": 1}}', " is JSON but not an import-logs state file"),
        ('{"sources": [{"path": 3}]}', ": sources[0].fingerprint missing, not a non-empty text"),  # #22: the field
    ):
        state.write_text(wrong)
        result = run_cli(*piwik_args(fake, f"--state-file={state}", str(log)), cwd=tmp_path, env=SECRET_ENV)
        assert result.returncode == 7, result.stderr
        assert f"state file {state}{said}" in result.stderr
    assert fake.hits == []


# --- 11b. secrets and personal data -----------------------------------------------------------------------------


def test_a_password_in_the_url_is_used_and_never_shown_or_stored(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "u", 1, 10)
    summary = tmp_path / "summary.json"
    with FakeMatomo() as matomo:
        url = matomo.url.replace("http://", "http://admin:hunter2@")
        args = [f"--url={url}", "--idsite=1", "--retry-delay=0.01", "--no-progress", f"--summary-json={summary}"]
        result = run_cli(*args, "-v", str(log), cwd=tmp_path, env={"IMPORT_LOGS_TOKEN_AUTH": "secret-token"})
        assert result.returncode == 0, result.stderr
        assert matomo.tracking_requests()[0].headers["authorization"].startswith("Basic ")
    state_dir = Path(os.environ["IMPORT_LOGS_STATE_DIR"])
    written = [result.stdout, result.stderr, summary.read_text()]
    written += [p.name + p.read_text() for p in state_dir.iterdir() if p.is_file()]
    assert not [text for text in written if "hunter2" in text]
    for path in [summary, *state_dir.glob("*.json")]:
        assert oct(path.stat().st_mode & 0o777) == "0o600", path


def test_saved_requests_and_output_files_are_private(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "o", 1, 5)
    saved, output = tmp_path / "requests.jsonl", tmp_path / "import.log"
    result = run_cli("--idsite=1", f"--save-requests={saved}", f"--output={output}", str(log), cwd=tmp_path)
    assert result.returncode == 0, output.read_text()
    assert oct(saved.stat().st_mode & 0o777) == oct(output.stat().st_mode & 0o777) == "0o600"


def test_a_host_that_is_not_a_host_name_does_not_rewrite_the_url(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = log_lines("v", 1, 3).splitlines()
    lines[1] = lines[1].replace("www.example.com", "evil.example/phish#", 1)
    lines[2] = lines[2].replace("www.example.com", "user@evil.example", 1)
    log.write_text("\n".join(lines) + "\n")
    saved = tmp_path / "requests.jsonl"
    regex = (
        r'(?P<host>\S+) (?P<ip>\S+) \S+ \S+ \[(?P<date>[^]]+)\] "\S+ (?P<path>\S+) [^"]*" (?P<status>\d+) '
        r"(?P<length>\d+)"
    )
    args = [
        "--idsite=1",
        f"--save-requests={saved}",
        f"--log-format-regex={regex}",
        "--log-date-format=%d/%b/%Y:%H:%M:%S %z",
    ]
    result = run_cli(*args, str(log), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    urls = [json.loads(line)["url"] for line in saved.read_text().splitlines()]
    assert len(urls) == 3 and not [u for u in urls if "evil" in u]


def test_a_batch_sent_again_after_a_dropped_connection_is_counted_as_maybe_twice(
    fake: FakePiwikPro, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    append(log, "m", 1, 5)
    summary = tmp_path / "summary.json"
    fake.fail_next("track", Fault(drop=True))
    result = run_cli(*piwik_args(fake, f"--summary-json={summary}", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(summary.read_text())["hits_maybe_stored_twice"] == 5
    assert "5 requests sent again after a timeout or a dropped connection: may have been stored twice" in result.stdout
