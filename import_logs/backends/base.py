"""What every backend provides.

A backend has two halves that live in different processes:

* an **encoder** (``Hit`` → one tracking request as JSON text), a pure function of an :class:`EncodeSpec`,
  built in each worker;
* a **sender**, in the main process, that authenticates, checks or resolves the site (``prepare``), and sends
  :class:`Batch` es from the lanes (``send``), raising :mod:`import_logs.errors` when it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from import_logs.config import TrackingOptions
from import_logs.hits import Hits
from import_logs.parsing.hit import Hit


@dataclass(frozen=True)
class EncodeSpec:
    """All an encoder needs, found out by the sender before the workers start. Picklable."""

    backend: str
    idsite: str
    #: The site's main URL (scheme and host), used for hits of formats without a host.
    main_url: str
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    enable_bots: bool = False
    client_name: str = "import-logs"
    client_version: str = "0"
    #: No --idsite: the encoder writes :data:`SITE_PLACEHOLDER` as the site, and the main process puts in the
    #: site of the hit's host (or, replaying, of its logged idsite) once the sender has resolved it.
    per_hit_site: bool = False
    #: Matomo 5.7+ with BotTracking: AI assistants' requests go in its bot mode (``recMode=1``), not as visits.
    bot_mode: bool = False
    #: --replay-tracking: the path suffixes of tracking requests (None: not replaying).
    replay_suffixes: tuple[str, ...] | None = None


@dataclass
class Batch:
    """Encoded requests bound for one request to the server, with the log line each came from."""

    #: The hits (from one or more sources), each with its source and its 1-based line number.
    hits: Hits
    #: The names of the sources, shared by all batches of an import.
    names: Sequence[str] = ()

    @property
    def items(self) -> list[str]:
        """The encoded requests."""
        return self.hits.items

    @property
    def visitors(self) -> list[str]:
        """The visitor of each item (what keeps its hits in order)."""
        return self.hits.visitors

    @property
    def refs(self) -> list[tuple[int, int]]:
        """(source index, 1-based line number) of each item."""
        return list(zip(self.hits.sources, self.hits.lines, strict=True))

    def where(self, index: int = 0) -> tuple[str, int]:
        """The file and line of one item (the first by default)."""
        hits = self.hits
        if not hits.lines:
            return "?", 0
        source, lineno = hits.sources[index], hits.lines[index]
        return (self.names[source] if source < len(self.names) else "?"), lineno


#: What an encoder writes for the site when each hit's site is resolved in the main process: letters and
#: underscores only, so that JSON escaping and URL encoding both leave it as it is.
SITE_PLACEHOLDER = "__IDSITE__"


@dataclass
class SendResult:
    """What the server said about a batch it answered with success.

    ``rejected``: (index in the batch, reason) of hits it refused as invalid: counted and reported, never sent
    again. ``dropped``: hits it neither stored nor refused (Matomo on a database lock timeout).
    """

    rejected: list[tuple[int, str]] = field(default_factory=list)
    dropped: int = 0
    #: Hits sent again after an attempt the server may have received (a timeout, a dropped connection).
    maybe_twice: int = 0


class Encoder(Protocol):
    """``encoder(hit, flags)`` → one tracking request as JSON text; ``replay(hit, params)`` for a logged one."""

    def __call__(self, hit: Hit, flags: int) -> str: ...

    def replay(self, hit: Hit, params: dict[str, str]) -> str: ...


class Sender(Protocol):
    """The network half of a backend. ``send`` is called from several lane threads at once."""

    default_payload_size: int

    def prepare(self) -> EncodeSpec: ...

    def send(self, batch: Batch) -> SendResult | None: ...

    def find_site(self, key: str) -> str | None:
        """The site of a host (replaying: the logged idsite, if it exists); None: none. Main thread, once per key."""
        ...

    def create_site(self, host: str) -> str:
        """A new site for a host (--add-sites-new-hosts); its id."""
        ...

    def site_zone(self, site: str) -> str | None:
        """The site's time zone as the tracker names it, where it keeps something per site and day that
        concurrent requests must not each create (Matomo's fingerprint salt); else None. From a lane's thread."""
        ...

    def abort(self) -> None:
        """End the requests under way now: the import stops and will not wait for them (from the main thread,
        maybe a signal handler, while lanes send: it takes no lock). What they carried counts as in flight."""
        ...

    def close(self) -> None: ...
