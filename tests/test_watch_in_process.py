"""The listener, /healthz's reasons and the status line in this process (#25): the end-to-end tests in
test_watch.py run them in the CLI's process, which coverage does not measure."""

from __future__ import annotations

import io
import json
import socket
import time
from dataclasses import replace

import httpx
import pytest

from import_logs.cli.metrics import Listener, Watched, parse_listen
from import_logs.cli.output import Output
from import_logs.cli.watch import StatusLine, health
from import_logs.errors import ConfigError
from import_logs.reasons import Invalid, Skip
from import_logs.stats import Live, Stats


def stats() -> Stats:
    s = Stats()
    s.lines, s.kept = 120, 100
    s.add_sent(95, [("a.log", 3, "bad")], dropped=1)
    s.skipped[Skip.STATIC] += 7
    s.invalid[Invalid.NO_MATCH] += 2
    s.count_source_event("rotated")
    s.queue.update({"received": 4, "objects_imported": 3, "delivered_again": 1})
    return s


def test_metrics_and_health_are_served_while_the_run_lasts() -> None:
    s = stats()
    now = {"live": Live(lag={"access.log": 512}, oldest_unaccepted=None, busy_lanes=1, lanes=2)}
    watched = Watched(s, lambda: now["live"], 60.0, {"version": "1", "backend": "piwikpro", "site": "app"})
    with Listener("127.0.0.1:0", watched) as listener:
        metrics = httpx.get(f"{listener.url}/metrics", timeout=5)
        assert metrics.status_code == 200
        text = metrics.text
        assert 'import_logs_hits_sent_total{backend="piwikpro"} 93.0' in text
        assert 'import_logs_skipped_total{reason="static"} 7.0' in text
        assert 'import_logs_follow_lag_bytes{file="access.log"} 512.0' in text
        assert 'import_logs_source_events_total{change="rotated"} 1.0' in text
        assert 'import_logs_queue_messages_total{outcome="objects_imported"} 3.0' in text
        assert httpx.get(f"{listener.url}/healthz", timeout=5).status_code == 200
        now["live"] = replace(now["live"], oldest_unaccepted=300.0)
        s.failing = "HTTP 503"
        sick = httpx.get(f"{listener.url}/healthz", timeout=5)
        assert sick.status_code == 503 and "accepted no hit for 300 s: HTTP 503" in sick.text
        watched.ended = "refused credentials"
        assert "stopped: refused credentials" in httpx.get(f"{listener.url}/healthz", timeout=5).text
        assert httpx.get(f"{listener.url}/other", timeout=5).status_code == 404


def test_a_bad_or_busy_address_is_a_usage_error() -> None:
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    for text in ("9464", "localhost:", "host:99999"):
        with pytest.raises(ConfigError, match="give HOST:PORT"):
            parse_listen(text)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        watched = Watched(Stats(), Live, 60.0, {"version": "1", "backend": "x", "site": ""})
        with pytest.raises(ConfigError, match="is in use"):
            Listener(f"127.0.0.1:{port}", watched)
    with pytest.raises(ConfigError, match="not an address of this machine"):
        Listener("192.0.2.1:9464", watched)  # TEST-NET: never bound here, never reached


def test_health_says_why_in_a_few_words() -> None:
    s = Stats()
    assert health(s, Live(), 60.0) == ""
    s.read_at = time.monotonic() - 100
    assert health(s, Live(), 60.0) == "no log read for 100 s"
    s.failing = "connection refused"
    assert health(s, Live(), 60.0).startswith("the server has not answered for 100 s: connection refused")


def test_the_status_line_as_text_and_as_json() -> None:
    s = stats()
    out = Output(out=io.StringIO(), err=io.StringIO(), json=True)
    line = StatusLine(s, lambda: Live(lag={"a": 10}, oldest_unaccepted=5.0), out, 300.0, 60.0)
    s.add_sent(10)
    line.write()
    record = json.loads(out.err.getvalue().splitlines()[-1])  # type: ignore[attr-defined]
    assert record["hits_sent"] == 10 and record["lag_bytes"] == 10 and record["level"] == "info"
    assert "10 hits sent in the last 5 min" in record["message"]
    plain = Output(out=io.StringIO(), err=io.StringIO())
    with StatusLine(s, Live, plain, 0.05, 60.0):
        time.sleep(0.2)
    assert "import-logs: status:" in plain.err.getvalue()  # type: ignore[attr-defined]
