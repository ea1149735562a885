"""A new day of a site goes first: with several lanes, the first request carrying a (site, day) is accepted before
any other request carries hits of that site and day.

Why (Matomo, ``core/Tracker/Settings.php`` and ``FingerprintSalt::getSalt``): a visitor without a visitor id is
recognised by a fingerprint hashed with a salt of the site and the day (in the site's time zone), made by the first
request that meets that day and stored inside its bulk request's transaction. Two requests that meet a new day at
once each make a salt: the visitors of one get another fingerprint in the other, and their visits are split. Sent
alone, the first request stores the salt, and every later one reads it: N lanes give the visits of one.

The cost is one request's round trip per (site, day) per run, only where lanes would have sent that day together.
A request that holds a new day is never waiting for another (it claims all its new days at once, or none), so the
lanes cannot wait on one another in a ring.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone, tzinfo

from import_logs.hits import Hits

Key = tuple[str, str]
#: How often a waiting lane looks whether the import is stopping (seconds).
_POLL = 0.1


def zone(name: str | None) -> tzinfo:
    """A Matomo site's time zone: a name (``Europe/Paris``), ``UTC``, or a fixed offset (``UTC+5.5``, ``UTC-3``);
    anything unknown is taken as UTC."""
    text = (name or "UTC").strip()
    if text.upper().startswith("UTC") and len(text) > 3:
        try:
            hours = float(text[3:])
        except ValueError:
            return timezone.utc
        return timezone(timedelta(hours=hours)) if -24 < hours < 24 else timezone.utc
    if text.upper() in ("UTC", "GMT", ""):
        return timezone.utc
    from zoneinfo import ZoneInfo  # the system's time zone database (or the tzdata package)

    try:
        return ZoneInfo(text)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return timezone.utc


#: Every time zone's day starts on a multiple of 15 minutes of UTC (Nepal's +05:45, Chatham's +12:45).
_QUARTER = 900


class SiteDays:
    """The day of a hit as the tracker counts it: in its site's time zone, asked once per site (``zone_of``)."""

    def __init__(self, zone_of: Callable[[str], tzinfo]) -> None:
        self._zone_of = zone_of
        self._zones: dict[str, tzinfo] = {}
        #: (site, quarter of an hour since the epoch) → the day.
        self._days: dict[tuple[str, int], str] = {}

    def day(self, site: str, t: float) -> str:
        quarter = int(t // _QUARTER)
        try:
            return self._days[site, quarter]
        except KeyError:
            pass
        try:
            tz = self._zones[site]
        except KeyError:
            tz = self._zones[site] = self._zone_of(site)
        day = self._days[site, quarter] = datetime.fromtimestamp(quarter * _QUARTER, tz).strftime("%Y-%m-%d")
        return day


class NewDays:
    """Which (site, day) pairs a batch carries, and the gate that lets the first request of each go alone."""

    def __init__(self, sites_of: Callable[[Hits], list[str]], days: SiteDays) -> None:
        #: Each hit's site (one list entry per hit, or a single entry when all hits are of one site).
        self._sites_of = sites_of
        self._day = days.day
        self._cond = threading.Condition()
        #: Pairs some accepted request carried (Matomo has their salt).
        self._known: set[Key] = set()
        #: Pairs carried by a request under way, not yet accepted.
        self._held: set[Key] = set()

    def keys(self, hits: Hits) -> set[Key]:
        """The (site, day) pairs of these hits, each day in its site's time zone."""
        times = hits.times
        if not times:
            return set()
        sites = self._sites_of(hits)
        if len(sites) == 1:
            site = sites[0]
            first, last = self._day(site, min(times)), self._day(site, max(times))
            if first == last:  # one site, one day: the usual batch
                return {(site, first)}
            return {(site, self._day(site, t)) for t in times}
        return {(site, self._day(site, t)) for site, t in zip(sites, times, strict=True)}

    def enter(self, hits: Hits, stopping: Callable[[], bool]) -> frozenset[Key] | None:
        """Wait until no request under way carries a new pair of these hits; then claim their new pairs (all at
        once) and return them. None when the import stops meanwhile (the batch is not to be sent)."""
        wanted = self.keys(hits)
        with self._cond:
            while True:
                new = wanted - self._known
                if not new:
                    return frozenset()
                if not (new & self._held):
                    self._held |= new
                    return frozenset(new)
                if stopping():
                    return None
                self._cond.wait(_POLL)

    def leave(self, claimed: Iterable[Key], accepted: bool) -> None:
        """The request is over: its new pairs are known if it was accepted, free to claim again if not."""
        claimed = set(claimed)
        if not claimed:
            return
        with self._cond:
            self._held -= claimed
            if accepted:
                self._known |= claimed
            self._cond.notify_all()


def for_sites(
    site_zone: Callable[[str], str | None], site_of: Callable[[str], str] | None, idsite: str, lanes: int
) -> tuple[Callable[[str, float], str], NewDays | None]:
    """For a tracker whose days are its sites' (Matomo): the day of a hit by its site (``idsite``) or, when sites
    are found per hit (``site_of`` a host's, or a replayed idsite's), by its key; and with several lanes, the gate.
    ``site_zone`` gives a site's time zone as the tracker names it."""
    days = SiteDays(lambda site: zone(site_zone(site)))
    day_of: Callable[[str, float], str] = days.day
    if site_of is not None:
        resolve = site_of

        def day_of(key: str, t: float) -> str:
            return days.day(resolve(key), t)

    if lanes < 2:
        return day_of, None

    def sites_of(hits: Hits) -> list[str]:
        if site_of is None or not hits.keys:
            return [idsite]
        keys = hits.keys
        if keys.count(keys[0]) == len(keys):
            return [site_of(keys[0])]
        return [site_of(key) for key in keys]

    return day_of, NewDays(sites_of, days)
