"""``--metrics-listen HOST:PORT``: ``/metrics`` (Prometheus' text format) and ``/healthz``, while the run lasts.

The listener is the CLI's: it is bound before the import starts (a port in use or refused stops the run with
exit 2 before any line is read), serves from threads of its own, and reads the import's counters when it is
scraped — the import counts nothing more for it, so the metrics cost nothing between two scrapes. Imported only
when the option is given (prometheus_client is not loaded otherwise).
"""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from import_logs.cli.watch import health
from import_logs.errors import ConfigError
from import_logs.events import Change
from import_logs.reasons import Invalid, Skip
from import_logs.stats import Live, Stats


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for an IPv6 address) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"--metrics-listen {text}: give HOST:PORT, e.g. 127.0.0.1:9464 (or [::1]:9464); keep it on a "
            "loopback or private address."
        )
    return host, int(port)


class Watched:
    """What the listener reads: the import's counters, what only the running import knows, and how it ended."""

    def __init__(self, stats: Stats, live: Callable[[], Live], threshold: float, labels: dict[str, str]) -> None:
        self.stats = stats
        self.live = live
        self.threshold = threshold
        self.labels = labels
        #: The error the import stopped on (set by the CLI; /healthz says so until the process exits).
        self.ended = ""

    def health(self) -> str:
        return health(self.stats, self.live(), self.threshold, ended=self.ended)


class _Collector:
    """The import's counters as metric families, read at each scrape."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched

    def collect(self) -> Iterator[Metric]:
        w = self.watched
        s, live, backend = w.stats, w.live(), w.labels["backend"]
        yield InfoMetricFamily("import_logs_build", "The importer's version and destination.", value=w.labels)

        def counter(name: str, doc: str, value: float, by_backend: bool = False) -> CounterMetricFamily:
            if not by_backend:
                return CounterMetricFamily(f"import_logs_{name}", doc, value=value)
            family = CounterMetricFamily(f"import_logs_{name}", doc, labels=["backend"])
            family.add_metric([backend], value)
            return family

        yield counter("lines_read", "Log lines read (summary: lines_parsed).", s.lines)
        yield counter("lines_already_imported", "Lines passed over: imported by an earlier run.", s.already_imported)
        yield counter("hits_kept", "Hits that passed the filters (summary: hits_kept).", s.kept)
        yield counter("hits_sent", "Hits the tracker accepted (summary: hits_sent).", s.sent, True)
        yield counter("hits_rejected", "Hits the tracker refused as invalid.", s.rejected, True)
        yield counter("hits_dropped_by_server", "Hits the tracker dropped without an error.", s.dropped, True)
        yield counter("hits_maybe_stored_twice", "Hits sent again after a timeout or a dropped connection.",
                      s.maybe_twice, True)  # fmt: skip
        yield counter("requests", "Tracking requests the tracker answered (summary: requests).", s.batches, True)
        yield counter("retries", "Requests tried again (refused, or not answered).", s.retries, True)
        yield counter("downloads", "Hits that were downloads.", s.downloads)
        yield counter("hits_no_site", "Hits not sent: their host has no site.", _total(s.unknown_sites))
        skipped = CounterMetricFamily(
            "import_logs_skipped", "Lines read well but not sent, by reason.", labels=["reason"]
        )
        for reason in Skip:
            skipped.add_metric([reason.value], s.skipped.get(reason, 0))
        yield skipped
        invalid = CounterMetricFamily(
            "import_logs_invalid", "Lines that could not be read, by reason.", labels=["reason"]
        )
        for why in Invalid:
            invalid.add_metric([why.value], s.invalid.get(why, 0))
        yield invalid
        changes = CounterMetricFamily(
            "import_logs_source_events",
            "What happened to the sources: resumed, rotated, truncated, finished, failed.",
            labels=["change"],
        )
        for change in Change:
            changes.add_metric([change.value], s.source_events.get(change.value, 0))
        yield changes
        if s.queue:
            messages = CounterMetricFamily(
                "import_logs_queue_messages",
                "--queue: what became of its messages (received, delivered_again, objects_imported...).",
                labels=["outcome"],
            )
            for outcome, n in list(s.queue.items()):
                messages.add_metric([outcome], n)
            yield messages

        lag = GaugeMetricFamily("import_logs_follow_lag_bytes", "--follow: bytes written to a log, not read yet.",
                                labels=["file"])  # fmt: skip
        for name, size in live.lag.items():
            lag.add_metric([name], size)
        yield lag
        yield GaugeMetricFamily(
            "import_logs_oldest_unaccepted_hit_age_seconds",
            "Seconds since the oldest hit not yet accepted by the tracker was read (0: none waits).",
            value=live.oldest_unaccepted or 0.0,
        )
        yield GaugeMetricFamily(
            "import_logs_last_accepted_batch_timestamp_seconds",
            "When the tracker last accepted a request (Unix time; 0: not yet).",
            value=s.accepted_at,
        )
        yield GaugeMetricFamily(
            "import_logs_lanes_busy", "Lanes with a request queued or under way.", value=live.busy_lanes
        )
        yield GaugeMetricFamily("import_logs_lanes", "Lanes (--recorders).", value=live.lanes)
        yield GaugeMetricFamily("import_logs_files_not_read_whole", "Files that could not be read to their end.",
                                value=len(s.unreadable))  # fmt: skip
        yield GaugeMetricFamily("import_logs_healthy", "1 while /healthz answers 200, else 0.", value=not w.health())
        yield GaugeMetricFamily("import_logs_start_time_seconds", "When the run started (Unix time).",
                                value=time.time() - (time.monotonic() - s.started))  # fmt: skip


def _total(counter: Any) -> int:
    """The sum of a Counter another thread may grow meanwhile."""
    for _ in range(5):
        try:
            return sum(list(counter.values()))
        except RuntimeError:  # changed size during iteration
            continue
    return 0


def _handler(watched: Watched, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "import-logs"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                why = watched.health()
                self._answer(503 if why else 200, (why or "ok").encode() + b"\n")
            else:
                self._answer(404, b"not found: /metrics, /healthz\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, family: socket.AddressFamily, address: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = family
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """As HTTPServer's, without its reverse DNS lookup of the address."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class Listener:
    """The bound listener; :meth:`serve` answers from a thread until :meth:`close`."""

    def __init__(self, text: str, watched: Watched) -> None:
        host, port = parse_listen(text)
        self.watched = watched
        registry = CollectorRegistry()
        registry.register(_Collector(watched))
        ProcessCollector(registry=registry)  # the CPU and memory of this process (where /proc exists)
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            self.server = _Server(family, address[:2], _handler(watched, registry))
        except PermissionError:
            raise ConfigError(
                f"--metrics-listen {text}: not allowed to listen on port {port} (below 1024, ports need root or "
                "CAP_NET_BIND_SERVICE); choose a port above 1023, e.g. 9464."
            ) from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = f"port {port} is in use (another import-logs, or another exporter?); choose another port"
            elif isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                why = f"{host!r} is not an address of this machine; give one, e.g. 127.0.0.1"
            else:
                why = f"{exc.strerror or exc}; check the address"
            raise ConfigError(f"--metrics-listen {text}: {why}.") from None
        self.address = self.server.server_address
        # Looks for the end of the run every 0.1 s (a poll(2) that costs nothing measurable): serve_forever's 0.5 s
        # default made every run up to half a second longer at its end.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="import-logs-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = str(self.address[0]), self.address[1]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
