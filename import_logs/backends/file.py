"""The backend with no server: ``--save-requests FILE`` writes each request as one JSON line, in send order;
``--dry-run`` encodes every hit and sends it nowhere."""

from __future__ import annotations

import threading
from typing import TextIO

from import_logs import __version__
from import_logs.backends.base import Batch, EncodeSpec
from import_logs.backends.piwikpro_encode import DEFAULT_PAYLOAD
from import_logs.config import Config

NO_HOST_URL = "https://no-hostname-found-in-log"


class FileSender:
    """Writes batches to a text stream (``None``: a dry run that writes nothing)."""

    default_payload_size = DEFAULT_PAYLOAD

    def __init__(self, config: Config, stream: TextIO | None) -> None:
        self.config = config
        self.stream = stream
        self._lock = threading.Lock()

    def prepare(self) -> EncodeSpec:
        host = self.config.tracking.log_hostname
        return EncodeSpec(
            backend=self.config.backend.name,
            idsite=self.config.backend.idsite or "",
            main_url=f"https://{host}" if host else NO_HOST_URL,
            tracking=self.config.tracking,
            enable_bots=self.config.filters.enable_bots,
            client_version=__version__,
        )

    def send(self, batch: Batch) -> None:
        if self.stream is None:
            return
        text = "\n".join(batch.items) + "\n"
        with self._lock:
            self.stream.write(text)
            self.stream.flush()

    def close(self) -> None:
        return None


class OwnedFileSender(FileSender):
    """A file sender that closes its file at the end."""

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
