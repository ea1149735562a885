"""What both HTTP clients share, below them both: the httpx client of :mod:`import_logs.http` (API calls, proxies)
and the :class:`~import_logs.poster.Poster` (the tracking POSTs): the User-Agent, the OAuth tokens shared by all
lanes and their ``Authorization: Bearer``, and what a client is to the :class:`~import_logs.http.Retrier`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Protocol

import httpx

from import_logs import __version__

USER_AGENT = f"import-logs/{__version__} (+https://pypi.org/project/import-logs/)"


class Requester(Protocol):
    """What the Retrier sends through: ``request(method, url, **kwargs)`` answered as
    :meth:`httpx.Client.request` answers (an :class:`httpx.Response`, httpx's exceptions)."""

    @property
    def request(self) -> Callable[..., httpx.Response]: ...


class TokenSource:
    """An OAuth access token, fetched on first use, renewed shortly before it expires and after a 401.

    One instance is shared by all lanes; a lock makes sure that one renewal serves them all.
    """

    def __init__(self, fetch: Callable[[], tuple[str, float]], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetches = 0

    def _refresh(self) -> str:
        token, ttl = self._fetch()
        self.fetches += 1
        # Renew when 90 % of the lifetime has passed, and at least a minute early for long-lived tokens.
        margin = min(60.0, ttl * 0.1)
        self._token, self._renew_at = token, self._clock() + max(0.0, ttl - margin)
        return token

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                return self._refresh()
            return self._token

    def renew(self, rejected: str) -> str:
        """After a 401 with ``rejected``: fetch a new token, unless another lane already did."""
        with self._lock:
            if self._token == rejected or self._token is None:
                return self._refresh()
            return self._token

    def __repr__(self) -> str:
        return f"TokenSource(fetches={self.fetches})"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer`` from a :class:`TokenSource`; on a 401 the request is sent once more."""

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.tokens.renew(token)}"
            yield request

    def __repr__(self) -> str:
        return "BearerAuth(********)"
