"""Which hits are kept, and why the others are not.

``HitFilter.check`` returns ``(reason, flags)``: ``reason`` is ``None`` for a kept hit or one key of
:data:`SKIP_REASONS`; ``flags`` marks a kept hit as a download, an error, a redirect or a bot. The checks run in
the reference importers' order (download, hostname, HTTP error, redirect, path, static, bot) and the first that
rejects names the reason, so the counters add up to the lines that were not sent.
"""

from __future__ import annotations

import fnmatch
import re

from import_logs.config import BOT_SUBSTRINGS, DEFAULT_DOWNLOAD_EXTENSIONS, STATIC_EXTENSIONS, FilterOptions
from import_logs.hit import Hit

DOWNLOAD = 1
ERROR = 2
REDIRECT = 4
BOT = 8

SKIP_REASONS = {
    "http_error": "HTTP errors",
    "http_redirect": "HTTP redirects",
    "static": "requests to static resources (css, js, images, ico, ttf...)",
    "bot": "requests done by bots, search engines...",
    "download_extension": "requests to file downloads that did not match any --download-extensions",
    "hostname": "requests that did not match any --hostname",
    "excluded_path": "requests whose path matched an --exclude-path",
    "not_included_path": "requests whose path matched no --include-path",
    "skip_option": "requests within the first --skip lines of their file",
    "header": "W3C header lines (#Fields:, #Date:...)",
    "host_filter": "requests whose host --include-host / --exclude-host leave out",
    "date_range": "requests outside --exclude-older-than / --exclude-newer-than",
    "not_tracking_request": "requests that are not tracking requests (--replay-tracking)",
    "unknown_site": "requests of hosts that have no site (listed below)",
    "request_limit": "requests beyond --debug-request-limit in their file",
}
NOT_TRACKING = "not_tracking_request"
UNKNOWN_SITE = "unknown_site"

_CACHE_LIMIT = 50_000


def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """fnmatch globs (``*`` crosses ``/``), case-sensitive, as one compiled alternation."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def extension(path: str) -> str:
    """The lowercased extension of the last path segment: ``/a/b.PDF`` → ``pdf``, ``/v1.2/api`` → ``''``."""
    dot = path.rfind(".")
    if dot < 0 or dot < path.rfind("/"):
        return ""
    return path[dot + 1 :].lower()


class HitFilter:
    """The filters of one import; built once per worker."""

    def __init__(self, options: FilterOptions) -> None:
        self._o = options
        self._downloads = frozenset(e.lower().lstrip(".") for e in options.download_extensions)
        self._hostnames = _globs(options.hostnames)
        self._exclude = _globs(options.exclude_paths)
        self._include = _globs(options.include_paths)
        self._include_hosts = frozenset(h.lower() for h in options.include_hosts) or None
        self._exclude_hosts = frozenset(h.lower() for h in options.exclude_hosts)
        self._bot_words = BOT_SUBSTRINGS + tuple(s.lower() for s in options.useragent_exclude if s)
        self._bots: dict[str, bool] = {}

    def is_bot(self, user_agent: str) -> bool:
        cache = self._bots
        try:
            return cache[user_agent]
        except KeyError:
            pass
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        lowered = user_agent.lower()
        found = cache[user_agent] = any(word in lowered for word in self._bot_words)
        return found

    def check(self, hit: Hit) -> tuple[str | None, int]:
        o = self._o
        flags = 0
        path = hit.path
        ext = extension(path)

        if ext:
            if ext in self._downloads:
                flags |= DOWNLOAD
            elif ext in DEFAULT_DOWNLOAD_EXTENSIONS:
                return "download_extension", 0

        if self._hostnames is not None and hit.host and not self._hostnames.match(hit.host):
            return "hostname", 0

        status = hit.status
        if 400 <= status < 600:
            if not o.enable_http_errors:
                return "http_error", 0
            flags |= ERROR
        elif 300 <= status < 400 and status != 304:
            if not o.enable_http_redirects:
                return "http_redirect", 0
            flags |= REDIRECT

        if self._exclude is not None and self._exclude.match(path):
            return "excluded_path", 0
        if self._include is not None and not self._include.match(path):
            return "not_included_path", 0

        if ext in STATIC_EXTENSIONS or path.endswith("/robots.txt") or path == "robots.txt":
            if not o.enable_static:
                return "static", 0
            flags |= DOWNLOAD

        if self.is_bot(hit.user_agent):
            if not o.enable_bots:
                return "bot", 0
            flags |= BOT

        if (self._include_hosts is not None and hit.host not in self._include_hosts) or (
            self._exclude_hosts and hit.host in self._exclude_hosts
        ):
            return "host_filter", 0
        if (o.older_than is not None and hit.time < o.older_than) or (
            o.newer_than is not None and hit.time > o.newer_than
        ):
            return "date_range", 0
        return None, flags
