"""The backend with no server: ``--save-requests FILE`` writes each request as one JSON line, in send order;
``--dry-run`` encodes every hit and sends it nowhere. The requests are those of the chosen backend."""

from __future__ import annotations

import contextlib
import threading
from typing import TextIO

from import_logs import __version__
from import_logs.backends.base import Batch, EncodeSpec, SendResult
from import_logs.backends.registry import backend
from import_logs.backends.replay import DEFAULT_SUFFIXES
from import_logs.config import Config
from import_logs.errors import OutputClosed

NO_HOST_URL = "https://no-hostname-found-in-log"


class FileSender:
    """Writes batches to a text stream (``None``: a dry run that writes nothing)."""

    def __init__(self, config: Config, stream: TextIO | None) -> None:
        self.config = config
        self.stream = stream
        self._lock = threading.Lock()
        self.default_payload_size = backend(config.backend.name).payload_size

    def prepare(self) -> EncodeSpec:
        b = self.config.backend
        host = self.config.tracking.log_hostname
        return EncodeSpec(
            backend=b.name,
            idsite=b.idsite or "",
            main_url=f"https://{host}" if host else NO_HOST_URL,
            tracking=self.config.tracking,
            enable_bots=self.config.filters.enable_bots,
            # No server to ask: AI assistants' requests go in Matomo's bot mode when --ai-assistants says so.
            bot_mode=b.name == "matomo" and bool(b.ai_assistants) and not b.replay_tracking,
            client_version=__version__,
            per_hit_site=b.idsite is None and backend(b.name).sites_by_host and bool(b.url),
            replay_suffixes=(b.replay_suffixes or DEFAULT_SUFFIXES) if b.replay_tracking else None,
        )

    def find_site(self, key: str) -> str | None:
        """No server to ask: the site of a host is written as the host (the logged id, replaying)."""
        return key

    def create_site(self, host: str) -> str:
        return host

    def site_zone(self, site: str) -> str | None:
        return None

    def send(self, batch: Batch) -> SendResult | None:
        if self.stream is None:
            return None
        text = "\n".join(batch.items) + "\n"
        with self._lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except BrokenPipeError:
                where = "standard output" if self.config.save_requests == "-" else self.config.save_requests
                raise OutputClosed(
                    f"{where} was closed by its reader; the requests not written are not marked as imported"
                ) from None
        return None

    def abort(self) -> None:
        return None

    def close(self) -> None:
        return None


class OwnedFileSender(FileSender):
    """A file sender that closes its file at the end."""

    def close(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(BrokenPipeError):  # what the closed pipe did not take (said already)
                self.stream.close()
