"""What the senders that talk to a server share: their registry entry, the checked base URL, one pooled client
and one retrier per import, the tracker's address, posting a batch's body, errors built from an answer, close.

Each backend's module keeps only what is its own: authentication, its sites API, and how it reads an answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import httpx

from import_logs.backends.base import Batch
from import_logs.backends.encoding import normalise_url
from import_logs.backends.registry import REGISTRY, Backend
from import_logs.config import Config
from import_logs.errors import ConfigError, ImportLogsError, RejectedError
from import_logs.http import Retrier, excerpt, make_client
from import_logs.poster import Poster

E = TypeVar("E", bound=ImportLogsError)


def from_response(
    cls: type[E], text: str, response: httpx.Response, *, url: str, batch: Batch | None = None, start: int = 0
) -> E:
    """An error of class ``cls`` about an answer: the message, and the answer's URL, status and body excerpt
    as attributes; a :class:`RejectedError` also names the file and line of the batch's first hit (or the
    ``start``-th)."""
    facts: dict[str, Any] = {"url": url, "status": response.status_code, "excerpt": excerpt(response)}
    if issubclass(cls, RejectedError):
        path, lineno = batch.where(start) if batch is not None else ("", 0)
        facts.update(path=path, lineno=lineno)
    return cls(text, **facts)


class HttpSender:
    """The base of a sender that talks to a server (see :class:`~import_logs.backends.base.Sender`)."""

    #: The backend's name in the registry.
    name: ClassVar[str]
    #: How its users call it, for messages.
    label: ClassVar[str]
    #: What --url looks like, for the message that asks for it.
    url_example: ClassVar[str] = "https://analytics.example.com"

    def __init__(
        self,
        config: Config,
        *,
        stop: threading.Event,
        on_retry: Callable[[str], None] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.info: Backend = REGISTRY[self.name]
        url = config.backend.url or self.info.default_url
        if not url:
            raise ConfigError(f"--url is required: the address of your {self.label}, e.g. {self.url_example}.")
        self.check(config)
        self.config = config
        self.default_payload_size = self.info.payload_size
        self.base = normalise_url(url)
        self._stop = stop
        self._say = on_retry
        self.client = client or make_client(config.http, connections=max(1, config.backend.recorders))
        #: The tracking POSTs (written by the Poster unless a test gives its own client, or a proxy applies).
        self.poster: httpx.Client | Poster = self.client if client is not None else Poster(config.http, self.client)
        self.retrier = Retrier(config.http, sleep=stop.wait, on_retry=on_retry, stopped=stop.is_set)

    def check(self, config: Config) -> None:
        """Raise :class:`ConfigError` for options this backend cannot work with (before any connection)."""

    def tracker(self) -> str:
        """The tracker's URL: --tracker-endpoint-path (or the backend's, see :meth:`Backend.tracker`) under --url;
        ?debug=1 with --debug-tracker."""
        endpoint = self.info.tracker(self.config.backend.tracker_endpoint_path)
        url = self.base + ("" if endpoint.startswith("/") else "/") + endpoint
        return url + "?debug=1" if self.config.http.debug_tracker else url

    def post(self, url: str, body: bytes, **kwargs: Any) -> httpx.Response:
        """POST a JSON body with retries; with --debug-tracker, say what the tracker answered."""
        response = self.retrier.request(
            self.poster, "POST", url, content=body, headers={"Content-Type": "application/json"}, **kwargs
        )
        if self.config.http.debug_tracker and self._say is not None:
            self._say(f"tracker answered HTTP {response.status_code}: {excerpt(response, 300)}")
        return response

    def site_zone(self, site: str) -> str | None:
        """None: the tracker keeps nothing per site and day that concurrent requests could each create."""
        return None

    def abort(self) -> None:
        """End the tracking requests under way now (the import stops; see :meth:`Poster.abort`)."""
        if isinstance(self.poster, Poster):
            self.poster.abort()

    def close(self) -> None:
        if isinstance(self.poster, Poster):
            self.poster.close()
        self.client.close()
