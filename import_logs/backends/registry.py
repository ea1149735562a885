"""Every backend, in one place: adding one is one entry here (and its sender and encoder modules).

Factories are named, not imported: a worker imports only its encoder, and httpx is imported only when a sender
talks to a server.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from import_logs.errors import ConfigError


@dataclass(frozen=True)
class Backend:
    name: str
    #: The tracker's path under --url (--tracker-endpoint-path overrides it).
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


REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "piwikpro",
            "/ppms.php",
            95,
            "import_logs.backends.piwikpro_encode:PiwikProEncoder",
            "import_logs.backends.piwikpro:PiwikProSender",
        ),
        Backend(
            "matomo",
            "/matomo.php",
            200,
            "import_logs.backends.matomo_encode:MatomoEncoder",
            "import_logs.backends.matomo:MatomoSender",
        ),
        Backend(
            "pirsch",
            "/api/v1/hit/batch",
            100,
            "import_logs.backends.pirsch_encode:PirschEncoder",
            "import_logs.backends.pirsch:PirschSender",
            sites_by_host=False,
            default_url="https://api.pirsch.io",
        ),
    )
}
BACKENDS = tuple(REGISTRY)


def backend(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}. Known backends: {', '.join(BACKENDS)}.") from None


def load(target: str) -> Any:
    """The class a ``module:Class`` name points to."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
