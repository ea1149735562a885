"""Backends: where hits go. Each has an encoder (runs in the workers) and a sender (runs in the lanes)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TextIO

from import_logs.backends.base import Batch, Encoder, EncodeSpec, Sender
from import_logs.backends.file import FileSender, OwnedFileSender
from import_logs.config import Config
from import_logs.errors import ConfigError

BACKENDS = ("piwikpro",)


def make_encoder(spec: EncodeSpec) -> Encoder:
    """The encoder named by a spec; called once per worker."""
    if spec.backend == "piwikpro":
        from import_logs.backends.piwikpro_encode import PiwikProEncoder

        return PiwikProEncoder(spec)
    raise ConfigError(f"unknown backend {spec.backend!r}. Known backends: {', '.join(BACKENDS)}.")


def destination(config: Config) -> str | None:
    """What the state file is kept for: the tracker and the site, or the file of --save-requests."""
    if config.save_requests is not None:
        return None if config.save_requests == "-" else "file:" + os.path.abspath(config.save_requests)
    b = config.backend
    if not b.url or not b.idsite:
        return None
    from import_logs.backends.piwikpro_encode import DEFAULT_ENDPOINT, normalise_url

    endpoint = b.tracker_endpoint_path or DEFAULT_ENDPOINT
    return f"{normalise_url(b.url)}/{endpoint.lstrip('/')}#{b.idsite}"


def open_sender(
    config: Config, *, stop: threading.Event, on_retry: Callable[[str], None], stdout: TextIO | None
) -> Sender:
    """The sender the options ask for: a file, nothing (dry run), or a server."""
    c = config
    if c.save_requests is not None:
        if c.save_requests == "-":
            return FileSender(c, stdout)
        try:
            # With a state file a re-run adds the new requests; without one, each run writes the file anew.
            if c.state.path:
                stream = open(c.save_requests, "a", encoding="utf-8")  # noqa: SIM115 - the sender closes it
            else:
                stream = open(c.save_requests, "w", encoding="utf-8")  # noqa: SIM115 - the sender closes it
        except OSError as exc:
            raise ConfigError(
                f"--save-requests {c.save_requests}: cannot write there ({exc.strerror}). Choose another path."
            ) from None
        return OwnedFileSender(c, stream)
    if c.dry_run:
        return FileSender(c, None)
    if c.backend.name != "piwikpro":
        raise ConfigError(f"unknown backend {c.backend.name!r}. Known backends: {', '.join(BACKENDS)}.")
    # Imported here: httpx is needed only when there is a server to talk to.
    from import_logs.backends.piwikpro import PiwikProSender

    return PiwikProSender(c, stop=stop, on_retry=on_retry)


__all__ = ["BACKENDS", "Batch", "EncodeSpec", "Encoder", "Sender", "destination", "make_encoder", "open_sender"]
