"""The site of each hit when there is no --idsite: asked of the sender once per host (or, replaying, per logged
idsite), then written into the already-encoded requests in place of :data:`SITE_PLACEHOLDER`.

Runs in the main process, between the merge and the lanes, so the workers never talk HTTP and a host costs one
lookup per run. Hits of hosts with no site are counted (``unknown_site``, and per host), never sent.
"""

from __future__ import annotations

from urllib.parse import quote

from import_logs.backends import SITE_PLACEHOLDER, Sender
from import_logs.config import BackendOptions
from import_logs.events import EventSink, Notice
from import_logs.hits import Hits
from import_logs.reasons import Skip
from import_logs.stats import Stats


def site_text(site: str) -> str:
    """A site id as it can stand in both a JSON string and a query string (ids are numbers or UUIDs)."""
    return quote(site, safe=".:-")


class SiteMap:
    def __init__(self, sender: Sender, options: BackendOptions, stats: Stats, on_event: EventSink) -> None:
        self._sender = sender
        self._options = options
        self._stats = stats
        self._on_event = on_event
        #: host (or logged idsite) → the site text put into its requests; None: no site.
        self._sites: dict[str, str | None] = {}

    def _resolve(self, key: str) -> str | None:
        """Found by the sender; else --idsite-fallback; else created with --add-sites-new-hosts; else None.

        A hit without a host, or a logged idsite that does not exist, only ever gets the fallback."""
        o = self._options
        site = self._sender.find_site(key) if key else None
        if site is None:
            site = o.idsite_fallback
        if site is None and o.add_sites_new_hosts and key and not o.replay_tracking:
            site = self._sender.create_site(key)
            self._stats.sites_created[key] = site
            self._on_event(Notice(f"created site {site} for {key} (--add-sites-new-hosts)"))
        return None if site is None else site_text(site)

    def site(self, key: str) -> str:
        """The site already put into the requests of this host ("" for a host with no site: none are sent)."""
        return self._sites.get(key) or ""

    def put(self, hits: Hits) -> Hits:
        """Each hit's site in place of the placeholder; hits of hosts with no site are counted and left out."""
        sites = self._sites
        stats = self._stats
        keep: list[int] = []
        items: list[str] = []
        for k, (item, key) in enumerate(zip(hits.items, hits.keys, strict=True)):
            try:
                site = sites[key]
            except KeyError:
                site = sites[key] = self._resolve(key)
            if site is None:
                stats.unknown_sites[key or "(no host)"] += 1
                stats.skipped[Skip.UNKNOWN_SITE] += 1
                stats.kept -= 1
                continue
            keep.append(k)
            items.append(item.replace(SITE_PLACEHOLDER, site, 1))
        kept = hits.select(keep) if len(keep) < len(hits) else hits.copy()
        kept.items = items
        return kept
