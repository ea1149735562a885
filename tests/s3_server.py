"""A real S3 API on 127.0.0.1 for the tests: moto's server mode in a process of its own, and a TCP proxy in front
of it that can cut a connection in the middle of an object (a connection reset, as networks do)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(command: list[str], port: int, what: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A server started as ``command``, once it accepts connections on ``port`` (30 s at most); its URL."""
    proc = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def moto_server(**env: str) -> contextlib.AbstractContextManager[str]:
    """``python -m moto.server`` on a free port; its endpoint URL."""
    port = free_port()
    return _server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, "moto", env)


def client(endpoint: str, service: str = "s3") -> Any:
    """A boto3 client of moto's server (S3 by default, SQS too: the same server)."""
    import boto3  # moto's server brings it

    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


class CuttingProxy:
    """Forwards 127.0.0.1:port to the server; ``cut(marker, after)`` closes the connection of the next request
    whose first line holds ``marker`` once ``after`` bytes of its answer went through."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.armed: tuple[bytes, int] | None = None
        self.cuts = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, marker: str, after: int) -> None:
        with self.lock:
            self.armed = (marker.encode(), after)

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        up = socket.create_connection(self.upstream)
        budget: list[int | None] = [None]  # bytes of the answer left before the cut

        def downstream() -> None:
            with contextlib.suppress(OSError):
                while data := up.recv(65536):
                    left = budget[0]
                    if left is not None and len(data) >= left:
                        conn.sendall(data[:left])
                        conn.shutdown(socket.SHUT_RDWR)
                        conn.close()
                        up.close()
                        return
                    if left is not None:
                        budget[0] = left - len(data)
                    conn.sendall(data)
            with contextlib.suppress(OSError):
                conn.close()

        threading.Thread(target=downstream, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                with self.lock:
                    if self.armed is not None and data.startswith(b"GET") and self.armed[0] in data.split(b"\r\n")[0]:
                        budget[0] = self.armed[1]
                        self.armed = None
                        self.cuts += 1
                up.sendall(data)
        with contextlib.suppress(OSError):
            up.close()


#: Azurite's well-known development account (public, in Microsoft's documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_AZURITE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "azurite")


def azurite_command() -> str | None:
    """``azurite-blob``: on the PATH, or installed from the npm registry into .cache/azurite (once)."""
    import shutil

    found = shutil.which("azurite-blob")
    local = os.path.join(_AZURITE_DIR, "node_modules", ".bin", "azurite-blob")
    if found or os.path.exists(local):
        return found or local
    if shutil.which("npm") is None:
        return None
    os.makedirs(_AZURITE_DIR, exist_ok=True)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", _AZURITE_DIR, "azurite@3"],
        capture_output=True,
        timeout=600,
    )
    return local if done.returncode == 0 and os.path.exists(local) else None


def azurite(command: str, location: str) -> contextlib.AbstractContextManager[str]:
    """Azurite's blob service on a free port; its URL."""
    port = free_port()
    flags = ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", location, "--silent"]
    return _server([command, *flags, "--skipApiVersionCheck"], port, "Azurite")


def create_container(url: str, name: str) -> None:
    """PUT a container, signed with the development account's shared key (obstore cannot create one)."""
    import base64
    import hashlib
    import hmac
    import urllib.request
    from email.utils import formatdate

    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
    signed = "PUT\n" + "\n" * 11 + canonical + resource
    signature = base64.b64encode(
        hmac.new(base64.b64decode(AZURITE_KEY), signed.encode(), hashlib.sha256).digest()
    ).decode()
    request = urllib.request.Request(
        f"{url}/{AZURITE_ACCOUNT}/{name}?restype=container",
        method="PUT",
        headers={**headers, "Authorization": f"SharedKey {AZURITE_ACCOUNT}:{signature}", "Content-Length": "0"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
