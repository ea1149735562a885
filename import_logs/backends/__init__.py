"""Backends: where hits go. Each has an encoder (runs in the workers) and a sender (runs in the lanes).

``piwikpro`` (``piwikpro.py``), ``matomo`` (``matomo.py``) and ``pirsch`` (``pirsch.py``) talk to a server;
``file.py`` writes the requests of any of them to a file (``--save-requests``) or nowhere (``--dry-run``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import TextIO

from import_logs.backends.base import DEFAULTS, SITE_PLACEHOLDER, Batch, Encoder, EncodeSpec, Sender, SendResult
from import_logs.backends.file import FileSender, OwnedFileSender
from import_logs.config import Config
from import_logs.errors import ConfigError

BACKENDS = ("piwikpro", "matomo", "pirsch")


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown backend {name!r}. Known backends: {', '.join(BACKENDS)}.")


def make_encoder(spec: EncodeSpec) -> Encoder:
    """The encoder named by a spec; called once per worker."""
    if spec.backend == "piwikpro":
        from import_logs.backends.piwikpro_encode import PiwikProEncoder

        return PiwikProEncoder(spec)
    if spec.backend == "matomo":
        from import_logs.backends.matomo_encode import MatomoEncoder

        return MatomoEncoder(spec)
    if spec.backend == "pirsch":
        from import_logs.backends.pirsch_encode import PirschEncoder

        return PirschEncoder(spec)
    raise _unknown(spec.backend)


def destination(config: Config) -> str | None:
    """What the state file is kept for: the tracker and the site, or the file of --save-requests."""
    if config.save_requests is not None:
        return None if config.save_requests == "-" else "file:" + os.path.abspath(config.save_requests)
    b = config.backend
    from import_logs.backends.piwikpro_encode import normalise_url

    if b.name == "pirsch":
        from import_logs.backends.pirsch_encode import DEFAULT_URL

        secret = b.client_secret.reveal() if b.client_secret else ""
        who = b.client_id or "key-" + hashlib.sha256(secret.encode()).hexdigest()[:12]
        return f"{normalise_url(b.url or DEFAULT_URL)}/api/v1/hit/batch#{who}"
    if not b.url:
        return None
    endpoint = b.tracker_endpoint_path or DEFAULTS.get(b.name, DEFAULTS["piwikpro"])[0]
    site = b.idsite or ("replay" if b.replay_tracking else "by-host")
    return f"{normalise_url(b.url)}/{endpoint.lstrip('/')}#{site}"


def open_sender(
    config: Config, *, stop: threading.Event, on_retry: Callable[[str], None], stdout: TextIO | None
) -> Sender:
    """The sender the options ask for: a file, nothing (dry run), or a server."""
    c = config
    if c.backend.name not in BACKENDS:
        raise _unknown(c.backend.name)
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
    # Imported here: httpx is needed only when there is a server to talk to.
    if c.backend.name == "matomo":
        from import_logs.backends.matomo import MatomoSender

        return MatomoSender(c, stop=stop, on_retry=on_retry)
    if c.backend.name == "pirsch":
        from import_logs.backends.pirsch import PirschSender

        return PirschSender(c, stop=stop, on_retry=on_retry)
    from import_logs.backends.piwikpro import PiwikProSender

    return PiwikProSender(c, stop=stop, on_retry=on_retry)


__all__ = [
    "BACKENDS",
    "DEFAULTS",
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
