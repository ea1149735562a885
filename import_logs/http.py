"""HTTP for every backend: one client factory and one retry policy (the OAuth tokens shared by all lanes are in
:mod:`import_logs.wire`).

Retried: timeouts, dropped or refused connections, 5xx, and 429 (after its ``Retry-After``). Not retried: other
answers, which the caller judges. Every wait is bounded by ``HttpOptions.max_wait`` and can be cut short by the
import's stop event.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from import_logs.config import HttpOptions
from import_logs.errors import ServerError
from import_logs.wire import USER_AGENT, Requester

#: Set on a response (``response.extensions``): how many of the attempts before it may have reached the server
#: (a read timeout, a connection dropped after sending): what it carried may be stored that many times more.
MAYBE_TWICE = "import_logs_maybe_twice"


def make_client(options: HttpOptions, *, connections: int = 4) -> httpx.Client:
    """The one pooled client of an import, shared by the lanes (httpx clients are thread-safe)."""
    auth = None
    if options.basic_user is not None:
        password = options.basic_password.reveal() if options.basic_password else ""
        auth = httpx.BasicAuth(options.basic_user, password)
    hooks = {"request": [_suffixer(options.request_suffix)]} if options.request_suffix else {}
    return httpx.Client(
        timeout=httpx.Timeout(options.timeout, connect=min(options.connect_timeout, options.timeout)),
        verify=options.verify_tls,
        limits=httpx.Limits(max_connections=connections + 2, max_keepalive_connections=connections + 2),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        auth=auth,
        event_hooks=hooks,
    )


def _suffixer(suffix: str) -> Callable[[httpx.Request], None]:
    """--request-suffix: the raw text appended to the query string of every request."""
    suffix = suffix.lstrip("?&")

    def add(request: httpx.Request) -> None:
        query = request.url.query.decode("ascii")
        request.url = request.url.copy_with(query=(f"{query}&{suffix}" if query else suffix).encode("ascii"))

    return add


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    """The start of a response body, on one line, for an error message."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass
class Retrier:
    """Runs one request until it gets an answer worth judging, within ``max_attempts`` attempts.

    ``sleep(seconds)`` returns True when the wait was cut short by a stop; then the last error is raised.
    ``stopped()`` says whether the import was asked to stop: then no attempt starts any more (nor is one
    announced).
    """

    options: HttpOptions
    sleep: Callable[[float], bool]
    #: Called with a one-line description of each retry, for the user to see.
    on_retry: Callable[[str], None] | None = None
    jitter: Callable[[], float] = random.random
    stopped: Callable[[], bool] = lambda: False

    def backoff(self, attempt: int) -> float:
        base = self.options.retry_delay * 2.0 ** (attempt - 1)
        return min(self.options.max_wait, base * (0.5 + self.jitter()))

    def request(
        self,
        client: Requester,
        method: str,
        url: str,
        *,
        final: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """``final(response)``: True for a 5xx answer the caller judges itself (not retried here)."""
        attempts = max(1, self.options.max_attempts)
        problem = ""
        last: httpx.Response | None = None
        #: Attempts that may have reached the server before they failed, each followed by another: each may
        #: have stored what it carried once more.
        resent = 0
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            received = False
            try:
                response = client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                problem = self._timed_out(exc)
                received = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            except httpx.TransportError as exc:
                received = isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError))
                tls = _ssl_error(exc)
                if tls is not None:  # retrying cannot change a certificate or make a plain-HTTP port speak TLS
                    raise self._tls_failed(method, url, tls) from None
                problem = f"connection failed ({type(exc).__name__}: {exc})" if str(exc) else type(exc).__name__
            else:
                if response.status_code == 429:
                    last = response
                    problem = "HTTP 429 Too Many Requests"
                    wait = retry_after(response)
                elif response.status_code >= 500 and not (final is not None and final(response)):
                    last = response
                    problem = f"HTTP {response.status_code} {excerpt(response, 120)}".rstrip()
                else:
                    response.extensions[MAYBE_TWICE] = resent
                    return response
            if attempt == attempts or self.stopped():
                break
            delay = min(self.options.max_wait, wait) if wait is not None else self.backoff(attempt)
            if self.on_retry is not None:
                of = f"of {attempts}" if attempts < 1 << 60 else "(until the server answers)"
                self.on_retry(f"{method} {url}: {problem}; attempt {attempt + 1} {of} in {delay:.1f} s")
            if self.sleep(delay):
                break
            resent += received
        raise ServerError(
            f"{method} {url} failed after {attempt} attempt(s): {problem}. Check that the server is up and "
            "reachable from here; raise --retry-max-attempts, --retry-delay or --request-timeout to wait longer.",
            url=url,
            status=last.status_code if last is not None else None,
            excerpt=excerpt(last) if last is not None else "",
            attempts=attempt,
            resent=resent,
        )

    def _timed_out(self, exc: httpx.TimeoutException) -> str:
        """The timeout that fired, by its value and its name: connecting (TCP and the TLS handshake) has its own,
        shorter one (see :func:`make_client`)."""
        o = self.options
        if isinstance(exc, httpx.ConnectTimeout):
            connect = min(o.connect_timeout, o.timeout)
            assumed = (
                "; https:// was assumed, since --url has no scheme: give --url=http://... if the server serves "
                "plain HTTP"
                if o.assumed_https
                else ""
            )
            return f"no connection within {connect:g} s (the connect timeout, TCP and TLS handshake{assumed})"
        return f"no answer within {o.timeout:g} s (--request-timeout)"

    def _tls_failed(self, method: str, url: str, error: ssl.SSLError) -> ServerError:
        if isinstance(error, ssl.SSLCertVerificationError):
            fix = (
                f"the server's TLS certificate was refused ({error.verify_message or error.reason}). Renew or fix "
                "the certificate (or the CA bundle of this machine); --accept-invalid-ssl-certificate turns the "
                "check off."
            )
        else:
            assumed = "https:// was assumed, since --url has no scheme; " if self.options.assumed_https else ""
            fix = (
                f"the TLS handshake failed ({error.reason or error}): the server may not speak HTTPS on this port. "
                f"{assumed}give --url=http://... if it serves plain HTTP."
            )
        return ServerError(f"{method} {url}: {fix}", url=url, attempts=1)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a transport error, if that is what it is."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
