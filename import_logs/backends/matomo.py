"""Matomo: bulk tracking with ``token_auth`` in the body (seed 002), and the Reporting API for the token and
the sites.

* API calls: ``POST {api}/index.php`` with a form body (``module=API&format=json&method=...&token_auth=...``);
  Matomo answers HTTP 200 with ``{"result": "error", "message": ...}`` when it refuses.
* Tracking: ``POST {url}/matomo.php`` with ``{"requests": ["?idsite=..."], "token_auth": ...}``: the token in
  the body, never in a URL. The answer ``{"status", "tracked", "invalid", "invalid_indices"}`` says which hits
  were refused as invalid, and ``tracked + invalid`` less than the hits sent means Matomo dropped some
  silently (it does on database lock timeouts).
* An error answer means Matomo rolled the whole batch back: it is sent again, then split in halves until the
  hit that keeps failing is alone; that hit is reported with its file and line and the rest goes on.
* A success that is not Matomo's bulk JSON (a maintenance page, a proxy) stops the import, and so does
  ``tracked: 0, invalid: 0`` twice for the same batch: nothing of it is counted as imported.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from import_logs import __version__
from import_logs.backends.answers import matomo_counts, not_a_tracker
from import_logs.backends.base import Batch, EncodeSpec, SendResult
from import_logs.backends.encoding import normalise_url
from import_logs.backends.http_sender import HttpSender, from_response
from import_logs.backends.matomo_bots import bot_mode
from import_logs.backends.matomo_token import NEEDS_TOKEN, check_config, token_from_php
from import_logs.backends.replay import DEFAULT_SUFFIXES
from import_logs.config import Config, Secret
from import_logs.errors import AuthError, ConfigError, RejectedError, ServerError
from import_logs.http import MAYBE_TWICE, excerpt

#: Words of Matomo error messages that are about the token, not about a hit.
_AUTH_WORDS = ("token_auth", "authenticat", "permission", "custom timestamp")
NO_HOST = "no-hostname-found-in-log"
#: What ``_judge`` says of a success that stored none of the hits (sent once more, then it stops).
NONE_STORED = "Matomo answered success but stored none of the hits"


def error_message(response: httpx.Response) -> str | None:
    """Matomo's message when the answer is one of its error documents, else None."""
    try:
        data: Any = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and (data.get("status") == "error" or data.get("result") == "error"):
        return str(data.get("message") or "no message")
    return None


class MatomoSender(HttpSender):
    name = "matomo"
    label = "Matomo"
    url_example = "https://matomo.example.com"

    def __init__(self, config: Config, **http: Any) -> None:  # stop, on_retry, client: see HttpSender
        super().__init__(config, **http)
        b = config.backend
        self.api = (normalise_url(b.api_url) if b.api_url else self.base) + "/index.php"
        self.tracker_url = self.tracker()
        self._token: Secret | None = b.token_auth
        #: AI assistants' requests go in Matomo's bot mode (found out by ``prepare``).
        self._bot_mode = False
        #: site → its time zone (``site_zone``), asked once per run.
        self._zones: dict[str, str] = {}
        self._zones_lock = threading.Lock()

    def check(self, config: Config) -> None:
        b = config.backend
        if not b.token_auth and not (b.login and b.password) and not b.matomo_config:
            raise ConfigError(NEEDS_TOKEN)
        if not b.token_auth and not (b.login and b.password) and b.matomo_config:
            check_config(b.matomo_config)  # before any process starts; PHP runs when the sender prepares
        if b.idsite is not None and not b.idsite.isdigit():
            raise ConfigError(f"--idsite {b.idsite!r}: Matomo site ids are numbers (Administration → Websites).")
        if b.idsite_fallback is not None and not b.idsite_fallback.isdigit():
            raise ConfigError(f"--idsite-fallback {b.idsite_fallback!r}: Matomo site ids are numbers.")

    # --- the Reporting API --------------------------------------------------------------------------------

    def call(self, method: str, **params: str) -> Any:
        """One API call; Matomo's ``{"result": "error"}`` raises AuthError with its message."""
        form = {"module": "API", "format": "json", "method": method, **params}
        if self._token:
            form["token_auth"] = self._token.reveal()
        response = self.retrier.request(self.client, "POST", self.api, data=form)
        if response.status_code in (401, 403):
            raise from_response(
                AuthError,
                f"{method}: HTTP {response.status_code} from {self.api}. Check --token-auth, and --auth-user "
                "and --auth-password if a proxy asks for them.",
                response,
                url=self.api,
            )
        if response.status_code != 200:
            raise from_response(
                ServerError,
                f"{method}: HTTP {response.status_code} from {self.api} ({excerpt(response, 120)}). Check --url "
                "(or --api-url): it must be the address of your Matomo.",
                response,
                url=self.api,
            )
        try:
            data = response.json()
        except ValueError:
            raise from_response(
                ServerError,
                f"{method}: {self.api} did not answer JSON ({excerpt(response, 120)}). Check --url (or --api-url): "
                "it must be the address of your Matomo.",
                response,
                url=self.api,
            ) from None
        if isinstance(data, dict) and data.get("result") == "error":
            raise AuthError(
                f"Matomo refused {method}: {data.get('message')}",
                url=self.api,
                status=200,
                excerpt=str(data.get("message")),
            )
        return data

    def _login(self) -> None:
        b = self.config.backend
        assert b.login and b.password
        try:
            data = self.call(
                "UsersManager.createAppSpecificTokenAuth",
                userLogin=b.login,
                passwordConfirmation=b.password.reveal(),
                description=f"import-logs {__version__}",
                expireHours="48",
            )
        except AuthError as exc:
            raise AuthError(
                f"Matomo refused --login {b.login} and its password ({exc.excerpt}). Check both, or give "
                "--token-auth instead.",
                url=exc.url,
                status=exc.status,
            ) from None
        if not isinstance(data, dict) or not data.get("value"):
            raise AuthError(
                "Matomo did not create a token for --login/--password; give --token-auth instead.", url=self.api
            )
        self._token = Secret(str(data["value"]))

    def prepare(self) -> EncodeSpec:
        """Get a token if asked to; check the site (or the token, when sites are found by host name)."""
        b = self.config.backend
        if not self._token:
            if b.login and b.password:
                self._login()
            else:
                self._token = token_from_php(b, self.base)
        per_hit = b.idsite is None
        main_url = ""
        if b.idsite is not None:
            try:
                site = self.call("SitesManager.getSiteFromId", idSite=b.idsite)
            except AuthError as exc:
                raise AuthError(
                    f"Matomo refused site {b.idsite} ({exc.excerpt}). Check --idsite, and that the token's user "
                    "has write access to that site.",
                    url=exc.url,
                    status=exc.status,
                ) from None
            if isinstance(site, list):
                site = site[0] if site else {}
            main_url = str(site.get("main_url") or "") if isinstance(site, dict) else ""
            if isinstance(site, dict):
                self._zones[b.idsite] = str(site.get("timezone") or "UTC")
        else:
            self.call("API.getMatomoVersion")  # a refused token stops here, before any line is read
        if not b.replay_tracking:
            self._say_if_no_custom_variables()
        replay = (b.replay_suffixes or DEFAULT_SUFFIXES) if b.replay_tracking else None
        bots = self._bot_mode = False if b.replay_tracking else bot_mode(b.ai_assistants, self.call)
        return EncodeSpec(
            backend="matomo",
            bot_mode=bots,
            idsite=b.idsite or "",
            main_url=main_url or f"https://{NO_HOST}",
            tracking=self.config.tracking,
            enable_bots=self.config.filters.enable_bots,
            client_version=__version__,
            per_hit_site=per_hit,
            replay_suffixes=replay,
        )

    def _say_if_no_custom_variables(self) -> None:
        """Matomo 5 ships without custom variables: the status, the bot flag and the --regex-group-to-*-cvar
        values would be dropped without a word. Say so once, unless they go to custom dimensions."""
        t = self.config.tracking
        if t.dimensions or t.page_dimensions or t.visit_dimensions or self._say is None:
            return
        try:
            answer = self.call("API.isPluginActivated", pluginName="CustomVariables")
        except (AuthError, ServerError):  # an older Matomo without this method has custom variables in core
            return
        if (answer.get("value") if isinstance(answer, dict) else answer) is False:
            self._say(
                "this Matomo has no CustomVariables plugin, so the HTTP status, the bot flag and "
                "--regex-group-to-*-cvar values are not stored. Create custom dimensions in Matomo and name them: "
                "--dimension http-status=ID, --dimension bot=ID, --regex-group-to-visit-dimension GROUP=ID."
            )

    # --- sites by host name -------------------------------------------------------------------------------

    def find_site(self, key: str) -> str | None:
        """The site whose URLs hold this host. Replaying, the logged idsite, if it exists."""
        if self.config.backend.replay_tracking:
            try:
                self.call("SitesManager.getSiteFromId", idSite=key)
            except AuthError:
                return None
            return key
        found = self.call("SitesManager.getSitesIdFromSiteUrl", url=f"http://{key}")
        if isinstance(found, list) and found:
            first = found[0]
            return str(first.get("idsite") if isinstance(first, dict) else first)
        return None

    def create_site(self, host: str) -> str:
        """``SitesManager.addSite`` (needs a super user's token)."""
        created = self.call("SitesManager.addSite", siteName=host, **{"urls[0]": f"https://{host}"})
        return str(created.get("value") if isinstance(created, dict) else created)

    def site_zone(self, site: str) -> str | None:
        """The site's time zone (``Europe/Paris``, ``UTC+5.5``): Matomo salts its visitors' fingerprints per site and
        per day in that zone (see :mod:`~import_logs.pipeline.newdays`). UTC when the site cannot be read."""
        with self._zones_lock:
            if site not in self._zones:
                try:
                    found = self.call("SitesManager.getSiteFromId", idSite=site)
                except (AuthError, ServerError):
                    found = None
                if isinstance(found, list):
                    found = found[0] if found else None
                zone = found.get("timezone") if isinstance(found, dict) else None
                self._zones[site] = str(zone) if zone else "UTC"
            return self._zones[site]

    # --- tracking -----------------------------------------------------------------------------------------

    def _post(self, items: list[str]) -> httpx.Response:
        assert self._token
        token = self._token.reveal()
        body = ('{"requests":[' + ",".join(items) + '],"token_auth":' + json.dumps(token) + "}").encode("utf-8")
        return self.post(self.tracker_url, body, final=lambda r: error_message(r) is not None)

    def send(self, batch: Batch) -> SendResult | None:
        result = SendResult()
        # Ranges of the batch still to send, in order (so each visitor's hits stay in order).
        todo: list[tuple[int, int, bool]] = [(0, len(batch.items), True)]
        while todo:
            start, end, retry = todo.pop(0)
            response = self._post(batch.items[start:end])
            result.maybe_twice += (end - start) * response.extensions.get(MAYBE_TWICE, 0)
            message = self._judge(response, batch, start, end - start, result)
            if message is None:
                continue
            if message is NONE_STORED and not retry:
                raise self._none_stored(batch, start, end - start, response)
            if retry:  # Matomo rolled the batch back: once more as it is (a lock timeout passes)
                if self._stop.wait(self.retrier.backoff(1)):
                    raise self._rejected(batch, start, response, message)
                todo.insert(0, (start, end, False))
            elif end - start == 1:
                result.rejected.append((start, f"rejected by Matomo: {message}"))
            else:
                middle = (start + end) // 2
                todo[:0] = [(start, middle, False), (middle, end, False)]
        if len(batch.items) > 1 and len(result.rejected) == len(batch.items):
            path, lineno = batch.where()
            raise RejectedError(
                f"POST {self.tracker_url}: Matomo refused every hit of the batch starting at {path}:{lineno}, one "
                f"by one ({result.rejected[0][1]}). That is not a few bad lines: check the Matomo logs.",
                url=self.tracker_url,
                status=400,
                excerpt=result.rejected[0][1],
                path=path,
                lineno=lineno,
            )
        return result

    def _judge(self, response: httpx.Response, batch: Batch, start: int, sent: int, result: SendResult) -> str | None:
        """Count a success into ``result`` (None); the message of a rolled-back batch; raise what stops."""
        status = response.status_code
        message = error_message(response)
        if 200 <= status < 300 and message is None:
            data = matomo_counts(response) or self._debug_counts(response)
            if data is None:
                raise not_a_tracker(response, url=self.tracker_url, backend="Matomo", batch=batch, start=start)
            tracked, invalid = _int(data.get("tracked")), _int(data.get("invalid"))
            short = sent - tracked - invalid if "tracked" in data else 0
            if short > 0 and self._bot_mode:  # bot-mode requests may not count as tracked: no loss they explain
                short -= sum(1 for item in batch.items[start : start + sent] if "&recMode=1&" in item)
            if short > 0 and tracked == 0 and invalid == 0:
                return NONE_STORED  # nothing of it was stored: safe to send again, not to count as done
            for index in data.get("invalid_indices") or []:
                if isinstance(index, int) and 0 <= index < sent:
                    result.rejected.append((start + index, "invalid for Matomo (see its tracker log)"))
            result.dropped += max(0, short)
            return None
        if message is not None and any(word in message.lower() for word in _AUTH_WORDS):
            idsite = self.config.backend.idsite or "each site"
            raise AuthError(
                f"Matomo refused the hits: {message}. Give --token-auth of a user with write access to {idsite}: "
                "Matomo needs it for hits older than 24 hours (cdt) and to set the visitor's IP (cip).",
                url=self.tracker_url,
                status=status,
                excerpt=message,
            )
        if status in (401, 403):
            raise from_response(
                AuthError,
                f"POST {self.tracker_url}: HTTP {status} ({excerpt(response, 120)}). Check --token-auth, and "
                "--auth-user/--auth-password if a proxy asks for them.",
                response,
                url=self.tracker_url,
            )
        if status == 404:
            raise from_response(
                ServerError,
                f"POST {self.tracker_url}: HTTP 404, there is no tracker there. Check --url and "
                "--tracker-endpoint-path (Matomo's is /matomo.php, older ones /piwik.php).",
                response,
                url=self.tracker_url,
            )
        if message is not None:
            return message
        raise self._rejected(batch, start, response, excerpt(response, 160))

    def _debug_counts(self, response: httpx.Response) -> dict[str, Any] | None:
        """With --debug-tracker Matomo writes its debug text before the bulk answer: find the answer."""
        if not self.config.http.debug_tracker:
            return None
        text = response.text
        at = text.rfind('{"status"')
        try:
            data = json.loads(text[at:]) if at >= 0 else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _none_stored(self, batch: Batch, start: int, sent: int, response: httpx.Response) -> RejectedError:
        path, lineno = batch.where(start)
        return from_response(
            RejectedError,
            f"POST {self.tracker_url}: Matomo answered success but stored none of the {sent} hits of the batch "
            f"starting at {path}:{lineno}, twice (tracked 0, invalid 0). They are not counted as imported; the "
            "next run sends them again. Check Matomo's tracker log (--debug-tracker shows its answer), and whether "
            "the site excludes these visitors (excluded IPs, user agents or parameters).",
            response,
            url=self.tracker_url,
            batch=batch,
            start=start,
        )

    def _rejected(self, batch: Batch, start: int, response: httpx.Response, message: str) -> RejectedError:
        path, lineno = batch.where(start)
        fix = (
            "Lower --recorder-max-payload-size."
            if response.status_code == 413
            else "Is the BulkTracking plugin enabled in Matomo?"
        )
        return from_response(
            RejectedError,
            f"POST {self.tracker_url}: Matomo rejected the batch starting at {path}:{lineno} (HTTP "
            f"{response.status_code}: {message}). {fix}",
            response,
            url=self.tracker_url,
            batch=batch,
            start=start,
        )


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0
