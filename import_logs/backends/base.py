"""What every backend provides.

A backend has two halves that live in different processes:

* an **encoder** (``Hit`` → one tracking request as JSON text), a pure function of an :class:`EncodeSpec`,
  built in each worker;
* a **sender**, in the main process, that authenticates, checks or resolves the site (``prepare``), and sends
  :class:`Batch` es from the lanes (``send``), raising :mod:`import_logs.errors` when it cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from import_logs.config import TrackingOptions
from import_logs.hit import Hit


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


@dataclass
class Batch:
    """Encoded requests bound for one request to the server, with the log line each came from."""

    items: list[str]
    #: (source index, 1-based line number) of each item.
    refs: list[tuple[int, int]]
    #: The names of the sources, shared by all batches of an import.
    names: Sequence[str] = ()
    #: The visitor of each item (what keeps its hits in order).
    visitors: list[str] = field(default_factory=list)

    def where(self, index: int = 0) -> tuple[str, int]:
        """The file and line of one item (the first by default)."""
        if not self.refs:
            return "?", 0
        source, lineno = self.refs[index]
        return (self.names[source] if source < len(self.names) else "?"), lineno


Encoder = Callable[[Hit, int], str]


class Sender(Protocol):
    """The network half of a backend. ``send`` is called from several lane threads at once."""

    default_payload_size: int

    def prepare(self) -> EncodeSpec: ...

    def send(self, batch: Batch) -> None: ...

    def close(self) -> None: ...
