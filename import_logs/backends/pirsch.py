"""Pirsch (seed 003): client credentials at ``POST /api/v1/token`` (``access_token``, ``expires_at``), or an
access key (``pa_...``) used as the bearer token as it is; hits in batches to ``POST /api/v1/hit/batch``.

Errors come as ``{"validation": {field: message}, "error": [message]}``; they are shown as Pirsch wrote them.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import httpx

from import_logs import __version__
from import_logs.backends.answers import not_a_tracker, pirsch_accepts
from import_logs.backends.base import Batch, EncodeSpec, SendResult
from import_logs.backends.http_sender import HttpSender, from_response
from import_logs.backends.registry import REGISTRY
from import_logs.config import Config
from import_logs.errors import AuthError, ConfigError, RejectedError, ServerError
from import_logs.http import MAYBE_TWICE, excerpt
from import_logs.wire import BearerAuth, TokenSource

BATCH_PATH = REGISTRY["pirsch"].tracker_path  # --tracker-endpoint-path does not apply (see the entry)
DEFAULT_URL = str(REGISTRY["pirsch"].default_url)


def pirsch_error(response: httpx.Response) -> str:
    """Pirsch's ``{validation, error}`` body in one line, or the start of whatever came."""
    try:
        data: Any = response.json()
    except ValueError:
        return excerpt(response, 200)
    if not isinstance(data, dict):
        return excerpt(response, 200)
    said = [f"{k}: {v}" for k, v in (data.get("validation") or {}).items()]
    errors = data.get("error") or []
    said += [str(e) for e in (errors if isinstance(errors, list) else [errors])]
    return "; ".join(said) or excerpt(response, 200)


def parse_expiry(text: str) -> datetime:
    """``2020-12-12T00:11:39.903607271Z`` (nanoseconds, UTC) → an aware datetime."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?", text.strip())
    if match is None:
        raise ValueError(text)
    stamp, fraction, zone = match.groups()
    value = datetime.fromisoformat(stamp + (f".{fraction[:6]:0<6}" if fraction else ""))
    if zone and zone != "Z":
        value = datetime.fromisoformat(value.isoformat() + zone)
        return value.astimezone(timezone.utc)
    return value.replace(tzinfo=timezone.utc)


class PirschSender(HttpSender):
    name = "pirsch"
    label = "Pirsch API"

    def __init__(self, config: Config, **http: Any) -> None:  # stop, on_retry, client: see HttpSender
        super().__init__(config, **http)
        b = config.backend
        self.url = self.base + BATCH_PATH
        self._client_id = b.client_id
        self._secret = b.client_secret.reveal() if b.client_secret else ""
        self.tokens = TokenSource(self._fetch_token)
        self.auth = BearerAuth(self.tokens)

    def check(self, config: Config) -> None:
        options = config.backend
        secret = options.client_secret.reveal() if options.client_secret else ""
        if not secret:
            raise ConfigError(
                "Pirsch needs --client-secret: an access key (pa_...), or a client secret with --client-id. "
                "Create one under the domain's settings → Developer; better give it in IMPORT_LOGS_CLIENT_SECRET."
            )
        if not options.client_id and not secret.startswith("pa_"):
            raise ConfigError(
                "--client-secret is not an access key (pa_...), so Pirsch also needs --client-id, the id of the "
                "client it belongs to."
            )
        t = config.tracking
        if t.extra_params or t.dimensions or t.page_dimensions or t.visit_dimensions:
            raise ConfigError(
                "--tracking-param and the --dimension options have no meaning for Pirsch: its hits take no extra "
                "parameters. Leave them out."
            )
        if options.idsite:
            raise ConfigError(
                "--idsite has no meaning for Pirsch: a Pirsch client belongs to one domain. Leave it out."
            )

    def _fetch_token(self) -> tuple[str, float]:
        if not self._client_id:  # an access key is its own token, valid until revoked
            return self._secret, 10.0 * 365 * 86400
        url = f"{self.base}/api/v1/token"
        body = {"client_id": self._client_id, "client_secret": self._secret}
        response = self.retrier.request(self.client, "POST", url, json=body, auth=None)
        if response.status_code in (400, 401, 403):
            raise from_response(
                AuthError,
                f"Pirsch refused the client credentials (HTTP {response.status_code} from {url}: "
                f"{pirsch_error(response)}). Check --client-id and --client-secret (domain settings → Developer).",
                response,
                url=url,
            )
        if response.status_code != 200:
            raise from_response(
                ServerError,
                f"POST {url} answered HTTP {response.status_code} ({pirsch_error(response)}). Check --url "
                f"(Pirsch's API is {DEFAULT_URL}; leave --url out to use it).",
                response,
                url=url,
            )
        try:
            data = response.json()
            token = str(data["access_token"])
            expires = parse_expiry(str(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            raise ServerError(
                f"POST {url} did not answer with an access token. Check --url.", url=url, status=200
            ) from None
        ttl = (expires - datetime.now(timezone.utc)).total_seconds()
        return token, max(1.0, ttl)

    def prepare(self) -> EncodeSpec:
        self.tokens.get()  # refused credentials stop the import before any line is read
        host = self.config.tracking.log_hostname
        return EncodeSpec(
            backend="pirsch",
            idsite="",
            main_url=f"https://{host}" if host else "https://no-hostname-found-in-log",
            tracking=self.config.tracking,
            enable_bots=self.config.filters.enable_bots,
            client_version=__version__,
        )

    def find_site(self, key: str) -> str | None:
        return None  # a Pirsch client belongs to one domain: hits never need a site

    def create_site(self, host: str) -> str:
        raise ConfigError("--add-sites-new-hosts: Pirsch domains are created in its dashboard.")

    def send(self, batch: Batch) -> SendResult | None:
        body = ("[" + ",".join(batch.items) + "]").encode("utf-8")
        response = self.post(self.url, body, auth=self.auth)
        status = response.status_code
        if pirsch_accepts(response):
            resent = response.extensions.get(MAYBE_TWICE, 0)
            return SendResult(maybe_twice=len(batch.items) * resent) if resent else None
        if 200 <= status < 300:
            raise not_a_tracker(response, url=self.url, backend="Pirsch", batch=batch)
        if status in (401, 403):
            raise from_response(
                AuthError,
                f"POST {self.url}: HTTP {status} ({pirsch_error(response)}). The access key or client may not "
                "send hits: check that it belongs to this domain and has not been deleted.",
                response,
                url=self.url,
            )
        path, lineno = batch.where()
        raise from_response(
            RejectedError,
            f"POST {self.url}: Pirsch rejected the batch starting at {path}:{lineno} (HTTP {status}: "
            f"{pirsch_error(response)}).",
            response,
            url=self.url,
            batch=batch,
        )
