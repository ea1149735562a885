"""Trust, third round (issue #22): each case failed before its fix.

The real CLI, with its real worker processes, against the fake servers (and silent sockets) on 127.0.0.1. Log
lines carry their tag and number in their path (see ``test_resume``), so the server's hits say what was
imported, and how often.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from test_resume import append, expect, imported

# --- 4. nginx's stock "main" format behind a proxy; identity options that cannot apply ------------------------

NGINX_MAIN = str(SAMPLES / "nginx_main.log")
#: The visitors of the samples (see sample_logs/make_samples.py), and the proxies and crawler nginx_main.log shows.
VISITORS = {"203.0.113.7", "198.51.100.23", "66.249.66.1", "192.0.2.45", "2001:db8::1f", "203.0.113.99", "192.0.2.200"}


def cips(fake: FakePiwikPro) -> set[str]:
    return {hit["cip"] for hit in fake.hits}


def test_nginx_main_behind_a_proxy_gives_each_visitor_its_address(fake: FakePiwikPro, tmp_path: Path) -> None:
    args = piwik_args(fake, "--client-ip-from=x-forwarded-for", "--enable-bots", NGINX_MAIN)
    result = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert "has no group" not in result.stderr
    assert cips(fake) == VISITORS
    assert not any(hit["cip"].startswith("10.") for hit in fake.hits)


def test_nginx_main_is_detected_and_read_without_the_option(fake: FakePiwikPro, tmp_path: Path) -> None:
    result = run_cli(*piwik_args(fake, "--enable-bots", "--summary-json=-", NGINX_MAIN), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert '"nginx_main"' in result.stdout
    assert cips(fake) == {"10.0.0.1", "10.0.0.2", "66.249.66.1", "203.0.113.99"}  # the addresses that connected


IDENTITY_ERRORS = {
    "client-ip-from, combined log": (
        ["--client-ip-from=x-forwarded-for", str(SAMPLES / "ncsa_extended.log")],
        "import-logs: error: --client-ip-from x_forwarded_for: the ncsa_extended format of ",
        "ncsa_extended.log has no group x_forwarded_for, so every visitor would get the address that connected "
        "(a proxy's). Its groups: date, ip, length, method, path, referrer, status, user_agent, userid. Name a "
        "format that logs the header (--log-format-name; bundled: nginx_main",
    ),
    "client-ip-from, named format": (
        ["--client-ip-from=x-real-ip", "--log-format-name=nginx_main", NGINX_MAIN],
        "import-logs: error: --client-ip-from x_real_ip: the nginx_main format of --log-format-name has no group "
        "x_real_ip,",
        "Its groups: date, ip, length, method, path, referrer, status, user_agent, userid, x_forwarded_for.",
    ),
    "client-ip-from, ignored group": (
        ["--client-ip-from=x-forwarded-for", "--ignore-groups=x_forwarded_for", NGINX_MAIN],
        "import-logs: error: --client-ip-from x_forwarded_for: the nginx_main format of ",
        "has that group, but --ignore-groups removes it",
    ),
    "trusted-proxies without client-ip-from": (
        ["--trusted-proxies=10.0.0.0/8", NGINX_MAIN],
        "import-logs: error: --trusted-proxies: the nginx_main format of ",
        "logs the proxies in its group x_forwarded_for, which is read only with --client-ip-from; without it every "
        "visitor gets the address that connected (a proxy's). Its groups: ",
    ),
    "exclude-ip, no address": (
        [
            r'--log-format-regex=\[(?P<date>[^\]]+)\] "\S+ (?P<path>\S+)',
            "--exclude-ip=192.0.2.0/24",
            NGINX_MAIN,
        ],
        "import-logs: error: --exclude-ip: the custom format of --log-format-regex has no group ip,",
        "Its groups: date, path.",
    ),
}


@pytest.mark.parametrize("case", IDENTITY_ERRORS)
def test_an_identity_option_that_cannot_apply_stops_before_anything_is_sent(
    fake: FakePiwikPro, tmp_path: Path, case: str
) -> None:
    options, start, middle = IDENTITY_ERRORS[case]
    result = run_cli(*piwik_args(fake, *options), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(start), result.stderr
    assert middle in result.stderr
    assert "Traceback" not in result.stderr
    assert fake.tracking_requests() == []


# --- 5. Piwik PRO: a success status whose JSON body reports an error ----------------------------------------

ERROR_BODIES = {
    "json-api errors": (200, {"errors": [{"status": "500", "title": "Tracking temporarily unavailable"}]}),
    "status error": (200, {"status": "error", "message": "Tracking temporarily unavailable"}),
    "202 with errors": (202, {"errors": ["queue full"]}),
}


@pytest.mark.parametrize("case", ERROR_BODIES)
def test_piwikpro_error_body_is_a_failed_batch_sent_again_once_the_server_recovers(
    fake: FakePiwikPro, tmp_path: Path, case: str
) -> None:
    log = tmp_path / "access.log"
    append(log, "e", 1, 40)
    args = piwik_args(fake, "--recorders=1", "--recorder-max-payload-size=10", "--retry-max-attempts=2", str(log))
    fake.track_error = ERROR_BODIES[case]
    first = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert first.returncode == 5, first.stderr
    assert "with an error in its body" in first.stderr
    assert "Tracking temporarily unavailable" in first.stderr or "queue full" in first.stderr
    assert "access.log:1 was not counted as imported" in first.stderr
    assert "Traceback" not in first.stderr
    assert len(fake.tracking_requests()) == 2  # the first batch, tried twice; nothing after it
    assert fake.hits == []
    fake.track_error = None
    again = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert again.returncode == 0, again.stderr
    assert imported(fake) == Counter(expect("e", 1, 40))


def test_piwikpro_error_body_once_is_retried_and_nothing_is_lost(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, "r", 1, 30)
    args = piwik_args(fake, "--recorders=1", "--recorder-max-payload-size=10", str(log))
    fake.track_error = ERROR_BODIES["status error"]
    seen = len(fake.tracking_requests())

    def recover() -> None:
        deadline = time.monotonic() + 30
        while len(fake.tracking_requests()) == seen and time.monotonic() < deadline:
            time.sleep(0.005)
        fake.track_error = None

    thread = threading.Thread(target=recover)
    thread.start()
    result = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    thread.join()
    assert result.returncode == 0, result.stderr
    assert "reporting an error (Tracking temporarily unavailable); attempt 2 of 3" in result.stderr
    assert imported(fake) == Counter(expect("r", 1, 30))


# --- 11. the credentials are checked before any worker process starts ---------------------------------------

MISSING_CREDENTIALS = (
    "import-logs: error: --client-id and --client-secret are required: create API credentials in Piwik PRO "
    "(My profile → API credentials); the secret can also come from IMPORT_LOGS_CLIENT_SECRET.\n"
)


def test_missing_credentials_never_end_with_a_traceback(tmp_path: Path) -> None:
    log = str(SAMPLES / "common.log")
    for _ in range(20):
        result = run_cli("--url=http://127.0.0.1:9", "--idsite=app", "--workers=2", log, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == MISSING_CREDENTIALS


def test_the_worker_pool_is_not_started_when_the_credentials_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from import_logs.config import BackendOptions, Config
    from import_logs.errors import ConfigError
    from import_logs.pipeline import importer

    started: list[int] = []
    monkeypatch.setattr(importer, "start_workers", lambda workers: started.append(workers))
    config = Config(
        inputs=(str(SAMPLES / "common.log"),),
        workers=2,
        backend=BackendOptions(url="http://127.0.0.1:9", idsite="app"),
    )
    with pytest.raises(ConfigError, match="--client-id and --client-secret are required"):
        importer.Importer(config).run()
    assert started == []


# --- 13. a timeout names the timeout that fired ---------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word (a TLS handshake never ends)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_a_silent_tls_port_names_the_connect_timeout(silent_port: int, tmp_path: Path) -> None:
    result = run_cli(
        f"--url=127.0.0.1:{silent_port}",  # no scheme: https:// is assumed
        "--client-id=client-id",
        "--idsite=app-uuid-1",
        "--retry-max-attempts=1",
        "--no-progress",
        str(SAMPLES / "common.log"),
        cwd=tmp_path,
        env=SECRET_ENV,
    )
    assert result.returncode == 5, result.stderr
    assert "no answer within 300 s" not in result.stderr
    assert "failed after 1 attempt(s): no connection within 10 s (the connect timeout" in result.stderr
    assert "https:// was assumed, since --url has no scheme" in result.stderr


def test_a_silent_server_names_the_request_timeout(silent_port: int, tmp_path: Path) -> None:
    result = run_cli(
        f"--url=http://127.0.0.1:{silent_port}",
        "--client-id=client-id",
        "--idsite=app-uuid-1",
        "--retry-max-attempts=1",
        "--request-timeout=1.5",
        "--no-progress",
        str(SAMPLES / "common.log"),
        cwd=tmp_path,
        env=SECRET_ENV,
    )
    assert result.returncode == 5, result.stderr
    assert "failed after 1 attempt(s): no answer within 1.5 s (--request-timeout)" in result.stderr
