"""Every backend, in one place: adding one is one entry here (and its sender and encoder modules).

An entry says all that the rest of the program asks of a backend by name: the options that point to it when
--backend is not given, its tracker path and payload size (and so --help's defaults), its default address, and
what its state file is kept for (:meth:`Backend.destination`).

Factories are named, not imported: a worker imports only its encoder, and httpx is imported only when a sender
talks to a server.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from import_logs.config import BackendOptions
from import_logs.errors import ConfigError


@dataclass(frozen=True)
class Backend:
    name: str
    #: How its users call it, in --help.
    title: str
    #: The tracker's path under --url (--tracker-endpoint-path overrides it, where it applies).
    tracker_path: str
    #: Hits per bulk request (--recorder-max-payload-size overrides it).
    payload_size: int
    #: ``module:Class`` of the encoder (workers) and of the sender (main process).
    encoder: str
    sender: str
    #: Without --idsite, each hit's site is looked up by its host (a backend without sites sends to its client's).
    sites_by_host: bool = True
    #: The API's address when --url is not given (None: --url is required).
    default_url: str | None = None
    #: Whether --tracker-endpoint-path applies (False: the API's path is fixed, and the option is ignored).
    endpoint_option: bool = True
    #: Without --backend, this backend is chosen when one of these options is given (their long names)...
    implied_by: tuple[str, ...] = ()
    #: ... else when --url contains one of these, or --client-secret starts with ``key_prefix`` (an access key).
    url_marks: tuple[str, ...] = ()
    key_prefix: str | None = None
    #: The tracker counts a site's days in the site's time zone (``Sender.site_zone``), and makes something per site
    #: and day that two concurrent requests would each make (Matomo's fingerprint salt): the summary's days are the
    #: site's, and with several lanes the first request of each new (site, day) goes alone.
    site_days: bool = False

    def tracker(self, given: str | None) -> str:
        """The tracker's path: --tracker-endpoint-path (``given``) where it applies, else the backend's."""
        return (given if self.endpoint_option else None) or self.tracker_path

    def destination(self, b: BackendOptions) -> str | None:
        """What the state file is kept for: the tracker and the site (or, for a backend without sites, its client,
        or its access key hashed); None without an address (no state is kept)."""
        from import_logs.backends.encoding import normalise_url  # the encoders' module: loaded when needed

        url = b.url or self.default_url
        if not url:
            return None
        if self.sites_by_host:
            who = b.idsite or ("replay" if b.replay_tracking else "by-host")
        else:
            secret = b.client_secret.reveal() if b.client_secret else ""
            who = b.client_id or "key-" + hashlib.sha256(secret.encode()).hexdigest()[:12]
        return f"{normalise_url(url)}/{self.tracker(b.tracker_endpoint_path).lstrip('/')}#{who}"


REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "piwikpro",
            "Piwik PRO",
            "/ppms.php",
            95,
            "import_logs.backends.piwikpro_encode:PiwikProEncoder",
            "import_logs.backends.piwikpro:PiwikProSender",
        ),
        Backend(
            "matomo",
            "Matomo",
            "/matomo.php",
            200,
            "import_logs.backends.matomo_encode:MatomoEncoder",
            "import_logs.backends.matomo:MatomoSender",
            implied_by=("--token-auth", "--login", "--config"),
            site_days=True,
        ),
        Backend(
            "pirsch",
            "Pirsch",
            "/api/v1/hit/batch",
            100,
            "import_logs.backends.pirsch_encode:PirschEncoder",
            "import_logs.backends.pirsch:PirschSender",
            sites_by_host=False,
            default_url="https://api.pirsch.io",
            endpoint_option=False,
            url_marks=("pirsch.io",),
            key_prefix="pa_",
        ),
    )
}
BACKENDS = tuple(REGISTRY)
#: The backend when neither --backend nor any other option names one.
DEFAULT_BACKEND = "piwikpro"


def backend(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}. Known backends: {', '.join(BACKENDS)}.") from None


def inferred(given: Collection[str], url: str | None, secret: str | None) -> str:
    """The backend the options point to when --backend is not given: ``given`` are the long names of the options
    given (``--token-auth``); an option that names a backend wins over an address or a key that looks like one."""
    for b in REGISTRY.values():
        if any(name in given for name in b.implied_by):
            return b.name
    for b in REGISTRY.values():
        if any(mark in (url or "").lower() for mark in b.url_marks) or (
            b.key_prefix and (secret or "").startswith(b.key_prefix)
        ):
            return b.name
    return DEFAULT_BACKEND


def load(target: str) -> Any:
    """The class a ``module:Class`` name points to."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
