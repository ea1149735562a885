"""Backends: where hits go. Each has an encoder (runs in the workers) and a sender (runs in the lanes).

``piwikpro`` (``piwikpro.py``), ``matomo`` (``matomo.py``) and ``pirsch`` (``pirsch.py``) talk to a server;
``file.py`` writes the requests of any of them to a file (``--save-requests``) or nowhere (``--dry-run``).
``registry.py`` names them all: a backend is one entry there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TextIO

from import_logs.backends.base import SITE_PLACEHOLDER, Batch, Encoder, EncodeSpec, Sender, SendResult
from import_logs.backends.file import FileSender, OwnedFileSender
from import_logs.backends.registry import BACKENDS, REGISTRY, backend, load
from import_logs.config import Config
from import_logs.errors import ConfigError


def make_encoder(spec: EncodeSpec) -> Encoder:
    """The encoder named by a spec; called once per worker."""
    encoder: Encoder = load(backend(spec.backend).encoder)(spec)
    return encoder


def destination(config: Config) -> str | None:
    """What the state file is kept for: the file of --save-requests, or what the backend's entry says (the tracker
    and the site, or the client)."""
    if config.save_requests is not None:
        return None if config.save_requests == "-" else "file:" + os.path.abspath(config.save_requests)
    return backend(config.backend.name).destination(config.backend)


def open_sender(
    config: Config, *, stop: threading.Event, on_retry: Callable[[str], None], stdout: TextIO | None
) -> Sender:
    """The sender the options ask for: a file, nothing (dry run), or a server."""
    c = config
    info = backend(c.backend.name)
    if c.save_requests is not None:
        if c.save_requests == "-":
            return FileSender(c, stdout)
        try:
            # With a state file a re-run adds the new requests; without one, each run writes the file anew.
            # Only its owner reads it: it holds IPs and URLs.
            how = os.O_APPEND if c.state.path else os.O_TRUNC
            fd = os.open(c.save_requests, os.O_WRONLY | os.O_CREAT | how, 0o600)
            stream = open(fd, "a" if c.state.path else "w", encoding="utf-8")  # noqa: SIM115 - the sender closes it
        except OSError as exc:
            raise ConfigError(
                f"--save-requests {c.save_requests}: cannot write there ({exc.strerror}). Choose another path."
            ) from None
        return OwnedFileSender(c, stream)
    if c.dry_run:
        return FileSender(c, None)
    sender: Sender = load(info.sender)(c, stop=stop, on_retry=on_retry)  # httpx is imported only here
    return sender


__all__ = [
    "BACKENDS",
    "REGISTRY",
    "SITE_PLACEHOLDER",
    "Batch",
    "EncodeSpec",
    "Encoder",
    "SendResult",
    "Sender",
    "destination",
    "make_encoder",
    "open_sender",
]
