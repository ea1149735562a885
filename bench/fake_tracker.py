"""A fast fake Piwik PRO and Matomo for benchmarks: just enough HTTP/1.1 (keep-alive, Content-Length) on asyncio.

    python bench/fake_tracker.py [--delay-ms 20]

Prints ``PORT <n>`` when ready. Answers Piwik PRO's ``/auth/token``, ``/api/apps/v2/<id>`` and ``/ppms.php``
(202, counting the hits of a bulk body without decoding it), and Matomo's ``/index.php`` API calls (the site,
the version, plugins) and bulk ``/matomo.php`` / ``/piwik.php`` (its success document with the count), so that
the reference importers can run against it too. On SIGTERM or SIGINT it prints what it handled and its ceiling:
requests and hits per CPU-second it used, which must stay well above what the importer sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

TOKEN = json.dumps({"token_type": "Bearer", "expires_in": 1800, "access_token": "bench-token"}).encode()
SITE = json.dumps({"idsite": "1", "name": "bench", "main_url": "https://www.example.com"}).encode()
APP = json.dumps({"data": {"type": "ppms/app", "id": "bench", "attributes": {"urls": ["https://www.example.com"]}}})


class Stats:
    requests = 0
    hits = 0
    first = 0.0
    last = 0.0


def response(status: str, body: bytes = b"", content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class Tracker(asyncio.Protocol):
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.buffer = bytearray()
        self.need: int | None = None
        self.path = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end]).split(b"\r\n")
                del self.buffer[: end + 4]
                self.path = head[0].split(b" ")[1]
                self.need = 0
                for line in head[1:]:
                    if line[:15].lower() == b"content-length:":
                        self.need = int(line[15:])
            if len(self.buffer) < self.need:
                return
            body = bytes(self.buffer[: self.need])
            del self.buffer[: self.need]
            self.need = None
            self.answer(self.path, body)

    def answer(self, path: bytes, body: bytes) -> None:
        Stats.requests += 1
        if path.startswith(b"/ppms.php"):
            Stats.hits += body.count(b'{"rec"')
            Stats.last = time.monotonic()
            Stats.first = Stats.first or Stats.last
            out = response("202 Accepted")
        elif path == b"/auth/token":
            out = response("200 OK", TOKEN)
        elif path.startswith(b"/api/apps/v2/"):
            out = response("200 OK", APP.encode(), b"application/vnd.api+json")
        elif path.startswith((b"/matomo.php", b"/piwik.php")):
            count = body.count(b'"?') or body.count(b"idsite")
            Stats.hits += count
            Stats.last = time.monotonic()
            Stats.first = Stats.first or Stats.last
            out = response("200 OK", b'{"status":"success","tracked":%d,"invalid":0}' % count)
        elif path.startswith(b"/index.php") or path == b"/":
            out = response("200 OK", matomo_api(path + b"&" + body))
        else:
            out = response("404 Not Found")
        assert self.transport is not None
        if self.delay:
            asyncio.get_running_loop().call_later(self.delay, self.transport.write, out)
        else:
            self.transport.write(out)


def matomo_api(query: bytes) -> bytes:
    """Matomo's answer to an API call (the method is in the query string or the form body)."""
    method = query.partition(b"method=")[2].split(b"&")[0]
    if method.startswith(b"SitesManager.getSiteFromId"):
        return SITE
    if method.startswith(b"SitesManager.getSitesIdFromSiteUrl"):
        return b'[{"idsite":"1"}]'
    if method.startswith(b"API.isPluginActivated"):
        return b'{"value":true}'
    if method.startswith(b"API.getMatomoVersion") or method.startswith(b"API.getPiwikVersion"):
        return b'{"value":"5.0.0"}'
    return b'{"result":"success","message":"ok"}'


async def serve(delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Tracker(delay), "127.0.0.1", 0, backlog=256)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started, cpu0 = time.monotonic(), time.process_time()
    await stop.wait()
    cpu = max(time.process_time() - cpu0, 1e-6)
    wall = time.monotonic() - started
    print(
        f"fake tracker: {Stats.requests:,} requests, {Stats.hits:,} hits in {wall:.1f} s, {cpu:.2f} CPU s; "
        f"ceiling ~{Stats.requests / cpu:,.0f} requests/s, ~{Stats.hits / cpu:,.0f} hits/s",
        flush=True,
    )
    window = max(Stats.last - Stats.first, 1e-6)
    print(json.dumps({"hits": Stats.hits, "window": window, "hits_per_second": Stats.hits / window}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer every request this much later")
    args = parser.parse_args()
    asyncio.run(serve(args.delay_ms / 1000.0))


if __name__ == "__main__":
    main()
