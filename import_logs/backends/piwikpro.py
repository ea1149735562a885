"""Piwik PRO: OAuth client credentials, the apps API, and bulk tracking with the bearer token.

Seeds 000/001: ``POST /auth/token`` → ``{"token_type", "expires_in", "access_token"}``; ``GET
/api/apps/v2/{id}`` with ``Content-Type: application/vnd.api+json``. Tracking: ``POST /ppms.php`` with
``{"requests": [...]}`` answers 202. Unlike the reference importer, every tracking request carries
``Authorization: Bearer``: without it Piwik PRO drops hits older than 24 hours and ignores ``cip``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from import_logs import __version__
from import_logs.backends.answers import not_a_tracker, piwikpro_accepts, reported_error
from import_logs.backends.base import Batch, EncodeSpec, SendResult
from import_logs.backends.http_sender import HttpSender, from_response
from import_logs.backends.matomo_token import NEEDS_TOKEN, answers_as_matomo
from import_logs.backends.replay import DEFAULT_SUFFIXES as REPLAY_SUFFIXES
from import_logs.config import Config, Secret
from import_logs.errors import AuthError, ConfigError, RejectedError, ServerError
from import_logs.http import MAYBE_TWICE, excerpt
from import_logs.wire import BearerAuth, TokenSource

JSON_API = "application/vnd.api+json"


class PiwikProSender(HttpSender):
    name = "piwikpro"
    label = "Piwik PRO account"
    url_example = "https://example.piwik.pro"

    def __init__(self, config: Config, **http: Any) -> None:  # stop, on_retry, client: see HttpSender
        super().__init__(config, **http)
        b = config.backend
        #: Replaying without credentials: the logged requests go as they were, without a token.
        self.anonymous = b.replay_tracking and not (b.client_id or b.client_secret)
        self.tracker_url = self.tracker()
        self._client_id = b.client_id
        self._secret: Secret = b.client_secret or Secret("")
        self.tokens = TokenSource(self._fetch_token)
        self.auth: BearerAuth | None = None if self.anonymous else BearerAuth(self.tokens)

    def check(self, config: Config) -> None:
        options = config.backend
        anonymous = options.replay_tracking and not (options.client_id or options.client_secret)
        if not anonymous and (not options.client_id or not options.client_secret):
            if options.url and answers_as_matomo(options.url, config.http):
                raise ConfigError(f"{options.url} answers as Matomo. {NEEDS_TOKEN}")
            raise ConfigError(
                "--client-id and --client-secret are required: create API credentials in Piwik PRO "
                "(My profile → API credentials); the secret can also come from IMPORT_LOGS_CLIENT_SECRET."
            )

    # --- authentication -----------------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        url = f"{self.base}/auth/token"
        body = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret.reveal(),
        }
        response = self.retrier.request(self.client, "POST", url, json=body, auth=None)
        if response.status_code in (400, 401, 403):
            raise from_response(
                AuthError,
                f"Piwik PRO refused the API credentials (HTTP {response.status_code} from {url}: "
                f"{excerpt(response, 160)}). Check --client-id and --client-secret; credentials are created "
                "under My profile → API credentials and stop working when revoked.",
                response,
                url=url,
            )
        if response.status_code != 200:
            raise from_response(
                ServerError,
                f"POST {url} answered HTTP {response.status_code} ({excerpt(response, 160)}). "
                "Check that --url is the address of your Piwik PRO account.",
                response,
                url=url,
            )
        try:
            data = response.json()
            token = str(data["access_token"])
            ttl = float(data.get("expires_in", 1800))
        except (ValueError, KeyError, TypeError):
            raise ServerError(
                f"POST {url} did not answer with an access token. Check that --url is the address of your "
                "Piwik PRO account, not of a proxy or another service.",
                url=url,
                status=response.status_code,
            ) from None
        return token, ttl

    # --- the site ------------------------------------------------------------------------------------------

    def prepare(self) -> EncodeSpec:
        """Get a token and check the app; its first URL gives the scheme and the host of host-less logs."""
        b = self.config.backend
        replay = (b.replay_suffixes or REPLAY_SUFFIXES) if b.replay_tracking else None
        if b.idsite is None:  # sites by host name (or, replaying, the logged ones)
            if self.auth is not None:
                self.tokens.get()  # refused credentials stop the import before any line is read
            return EncodeSpec(
                backend="piwikpro",
                idsite="",
                main_url="https://no-hostname-found-in-log",
                tracking=self.config.tracking,
                enable_bots=self.config.filters.enable_bots,
                client_version=__version__,
                per_hit_site=True,
                replay_suffixes=replay,
            )
        idsite = str(b.idsite)
        url = f"{self.base}/api/apps/v2/{idsite}"
        response = self.retrier.request(
            self.client, "GET", url, headers={"Content-Type": JSON_API, "Accept": JSON_API}, auth=self.auth
        )
        status = response.status_code
        fixes = {
            401: "the API credentials were accepted but the token was refused: check that they belong to this "
            "Piwik PRO account (--url).",
            403: f"the API credentials have no access to app {idsite}: give their user at least write access "
            "to it (Administration → Sites & apps → Permissions).",
            404: f"there is no app {idsite}: --idsite takes the App ID, a UUID shown under Administration → "
            "Sites & apps.",
        }
        if status in fixes:
            raise from_response(
                AuthError, f"GET {url}: HTTP {status} ({excerpt(response, 120)}). {fixes[status]}", response, url=url
            )
        if status != 200:
            raise from_response(
                ServerError,
                f"GET {url} answered HTTP {status} ({excerpt(response, 120)}). Check --url.",
                response,
                url=url,
            )
        main_url = ""
        try:
            urls = response.json()["data"]["attributes"].get("urls") or []
            main_url = str(urls[0]) if urls else ""
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        return EncodeSpec(
            backend="piwikpro",
            idsite=idsite,
            main_url=main_url or "https://no-hostname-found-in-log",
            tracking=self.config.tracking,
            enable_bots=self.config.filters.enable_bots,
            client_version=__version__,
            replay_suffixes=replay,
        )

    def find_site(self, key: str) -> str | None:
        """The app whose URLs hold this host. Replaying, the logged idsite, trusted as Piwik PRO's importer does."""
        if self.config.backend.replay_tracking:
            return key
        url = f"{self.base}/api/tracker/v2/settings/app/url"
        response = self.retrier.request(
            self.client, "GET", url, params={"app_url": key}, headers={"Accept": "application/json"}, auth=self.auth
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._api_error("GET", url, response, f"looking up the app of {key}")
        return _app_id(response)

    def create_site(self, host: str) -> str:
        """``POST /api/apps/v2`` with a JSON:API document (seed 000)."""
        url = f"{self.base}/api/apps/v2"
        body = {
            "data": {"type": "ppms/app", "attributes": {"name": host, "urls": [f"https://{host}"], "appType": "web"}}
        }
        response = self.retrier.request(
            self.client,
            "POST",
            url,
            content=json.dumps(body).encode(),
            headers={"Content-Type": JSON_API, "Accept": JSON_API},
            auth=self.auth,
        )
        created = _app_id(response) if response.status_code in (200, 201) else None
        if created is None:
            raise self._api_error("POST", url, response, f"creating an app for {host}")
        return created

    def _api_error(self, method: str, url: str, response: httpx.Response, doing: str) -> AuthError | ServerError:
        status = response.status_code
        if status in (401, 403):
            return from_response(
                AuthError,
                f"{method} {url}: HTTP {status} while {doing} ({excerpt(response, 120)}). The API credentials "
                "need access to the apps (to create them: the permission to add apps).",
                response,
                url=url,
            )
        return from_response(
            ServerError,
            f"{method} {url}: HTTP {status} while {doing} ({excerpt(response, 120)}). Check --url, or give --idsite.",
            response,
            url=url,
        )

    # --- tracking -----------------------------------------------------------------------------------------

    def send(self, batch: Batch) -> SendResult | None:
        body = ('{"requests":[' + ",".join(batch.items) + "]}").encode("utf-8")
        attempts = max(1, self.config.http.max_attempts)
        of = f"of {attempts}" if attempts < 1 << 60 else "(until the server answers)"
        for attempt in range(1, attempts + 1):
            response = self.post(self.tracker_url, body, auth=self.auth)
            error = reported_error(response) if 200 <= response.status_code < 300 else None
            if error is None:
                break
            # A success status whose body reports an error: the batch failed, whatever the status says.
            if attempt == attempts:
                raise self._reported(batch, response, error, attempt)
            delay = self.retrier.backoff(attempt)
            if self._say is not None:
                self._say(
                    f"POST {self.tracker_url}: HTTP {response.status_code} reporting an error ({error}); attempt "
                    f"{attempt + 1} {of} in {delay:.1f} s"
                )
            if self._stop.wait(delay):
                raise self._reported(batch, response, error, attempt)
        status = response.status_code
        if piwikpro_accepts(response):
            resent = response.extensions.get(MAYBE_TWICE, 0)
            return SendResult(maybe_twice=len(batch.items) * resent) if resent else None
        if 200 <= status < 300:
            raise not_a_tracker(response, url=self.tracker_url, backend="Piwik PRO", batch=batch)
        path, lineno = batch.where()
        where = f"{path}:{lineno}"
        if status in (401, 403):
            raise from_response(
                AuthError,
                f"POST {self.tracker_url}: HTTP {status} ({excerpt(response, 120)}) for the batch starting at "
                f"{where}. Check that the API credentials may track into app {self.config.backend.idsite}.",
                response,
                url=self.tracker_url,
            )
        if status == 404:
            raise from_response(
                ServerError,
                f"POST {self.tracker_url}: HTTP 404, there is no tracker there. Check --url and "
                "--tracker-endpoint-path (Piwik PRO's is /ppms.php).",
                response,
                url=self.tracker_url,
            )
        fix = (
            "Lower --recorder-max-payload-size."
            if status == 413
            else "Run again with -v to see the line, or exclude it; report it if the line looks right."
        )
        raise from_response(
            RejectedError,
            f"POST {self.tracker_url}: the server rejected the batch starting at {where} (HTTP {status}: "
            f"{excerpt(response, 160)}). {fix}",
            response,
            url=self.tracker_url,
            batch=batch,
        )

    def _reported(self, batch: Batch, response: httpx.Response, error: str, attempts: int) -> ServerError:
        path, lineno = batch.where()
        return ServerError(
            f"POST {self.tracker_url} answered HTTP {response.status_code} with an error in its body ({error}), "
            f"{attempts} time(s). The batch starting at {path}:{lineno} was not counted as imported; the next run "
            "sends it again. Check the Piwik PRO status page and the app's tracking settings, and run again later "
            "(--debug-tracker shows each answer).",
            url=self.tracker_url,
            status=response.status_code,
            excerpt=excerpt(response),
            attempts=attempts,
        )


def _app_id(response: httpx.Response) -> str | None:
    """``data.id`` of a JSON:API document (or of its first resource)."""
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(data, list):
        data = data[0] if data else None
    if isinstance(data, dict) and data.get("id"):
        return str(data["id"])
    return None
