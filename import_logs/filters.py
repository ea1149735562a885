"""Which hits are kept, and why the others are not.

``HitFilter.check`` returns ``(reason, flags)``: ``reason`` is ``None`` for a kept hit or a
:class:`~import_logs.reasons.Skip`; ``flags`` marks a kept hit as a download, an error, a redirect, a bot or an AI
assistant. The checks run in the reference importers' order (download, hostname, HTTP error, redirect, path,
static, bot) and the first that rejects names the reason, so the counters add up to the lines that were not sent.
"""

from __future__ import annotations

import fnmatch
import re

from import_logs.config import (
    AI_ASSISTANT_SUBSTRINGS,
    BOT_SUBSTRINGS,
    DEFAULT_DOWNLOAD_EXTENSIONS,
    STATIC_EXTENSIONS,
    FilterOptions,
)
from import_logs.parsing.hit import Hit
from import_logs.reasons import Skip

DOWNLOAD = 1
ERROR = 2
REDIRECT = 4
BOT = 8
#: An AI assistant's request, for Matomo's bot mode (only with ``ai_assistants``): kept whatever its status and
#: --enable-bots, since it is not a visit and its status is what the AI Assistants reports show.
AI_ASSISTANT = 16

_CACHE_LIMIT = 50_000


def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """fnmatch globs (``*`` crosses ``/``), case-sensitive, as one compiled alternation."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


#: The fields of a hit --exclude-field may name.
FIELDS = ("ip", "host", "method", "path", "query", "status", "referrer", "user_agent", "userid")


def statuses(specs: tuple[str, ...]) -> frozenset[int]:
    """``301``, ``3xx`` (a class) → the status codes they name; anything else raises ValueError."""
    codes: set[int] = set()
    for spec in specs:
        text = spec.strip().lower()
        if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
            codes.update(range(int(text[0]) * 100, int(text[0]) * 100 + 100))
        elif len(text) == 3 and text.isdigit() and 100 <= int(text) <= 599:
            codes.add(int(text))
        else:
            raise ValueError(f"{spec!r} is not a status code (e.g. 301) or a class of them (e.g. 3xx)")
    return frozenset(codes)


def extension(path: str) -> str:
    """The lowercased extension of the last path segment: ``/a/b.PDF`` → ``pdf``, ``/v1.2/api`` → ``''``."""
    dot = path.rfind(".")
    if dot < 0 or dot < path.rfind("/"):
        return ""
    return path[dot + 1 :].lower()


class PathSkips(dict[str, "Skip | str"]):
    """``skips[path]``: the reason :meth:`HitFilter.check` gives a hit with this path answered with a success
    (status below 300, or 304) when the path settles it (a static resource, an excluded path, a download
    extension not asked for) and none of the checks that come before the path's is in force (host name, status,
    method, field); else ``""``. Worked out once per distinct path, in a bounded cache."""

    def __init__(self, hit_filter: HitFilter) -> None:
        super().__init__()
        self._filter = hit_filter

    def __missing__(self, path: str) -> Skip | str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        early, _, late, _ = self._filter.path_verdict(path)
        skip: Skip | str = early or ("" if late is None or self._filter.before_path else late)
        self[path] = skip
        return skip


class HitFilter:
    """The filters of one import; built once per worker.

    What depends on the path alone (its extension, --exclude-path, --include-path, static) is worked out once
    per distinct path and what depends on the user agent alone once per distinct user agent, in bounded
    caches, so that a line costs a few lookups and comparisons.
    """

    def __init__(self, options: FilterOptions, *, ai_assistants: bool = False) -> None:
        self._o = options
        self._ai = ai_assistants
        self._downloads = frozenset(e.lower().lstrip(".") for e in options.download_extensions)
        self._hostnames = _globs(options.hostnames)
        self._exclude = _globs(options.exclude_paths)
        self._include = _globs(options.include_paths)
        self._include_hosts = frozenset(h.lower() for h in options.include_hosts) or None
        self._exclude_hosts = frozenset(h.lower() for h in options.exclude_hosts)
        self._host_filter = self._include_hosts is not None or bool(self._exclude_hosts)
        self._dates = options.older_than is not None or options.newer_than is not None
        self._bot_words = BOT_SUBSTRINGS + tuple(s.lower() for s in options.useragent_exclude if s)
        #: User agent → 0 (a person), BOT, or AI_ASSISTANT (with ``ai_assistants``).
        self._bots: dict[str, int] = {}
        self._paths: dict[str, tuple[Skip | None, int, Skip | None, int]] = {}
        self._status_out = statuses(options.exclude_status)
        self._status_in = statuses(options.include_status) or None
        self._methods = frozenset(m.upper() for m in options.exclude_methods)
        self._fields = tuple((Hit._fields.index(name), re.compile(regex)) for name, regex in options.exclude_fields)
        self._more = bool(self._status_out or self._status_in is not None or self._methods or self._fields)
        #: Checks that come before the path's own and need more of the hit than its path and status.
        self.before_path = self._hostnames is not None or self._more
        #: ``path_skips[path]``: the reason a hit with this path is skipped when it was answered with a success,
        #: or ``""``. The parser looks it up as soon as it has read the path (a quarter of a typical log is static
        #: resources, whose rest of the line need not be read).
        self.path_skips = PathSkips(self)

    def more(self, hit: Hit) -> Skip | None:
        """--exclude-status, --include-status, --exclude-method, --exclude-field: the reason, or None."""
        if hit.status in self._status_out or (self._status_in is not None and hit.status not in self._status_in):
            return Skip.STATUS_FILTER
        if hit.method is not None and hit.method.upper() in self._methods:
            return Skip.EXCLUDED_METHOD
        for index, pattern in self._fields:
            value = hit[index]
            if value is not None and pattern.search(str(value)):
                return Skip.EXCLUDED_FIELD
        return None

    def is_bot(self, user_agent: str) -> bool:
        return self.agent(user_agent) == BOT

    def agent(self, user_agent: str) -> int:
        """0 for a person, BOT, or AI_ASSISTANT (only with ``ai_assistants``), cached per user agent."""
        cache = self._bots
        found = cache.get(user_agent)
        if found is not None:
            return found
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        lowered = user_agent.lower()
        if self._ai and any(word in lowered for word in AI_ASSISTANT_SUBSTRINGS):
            found = AI_ASSISTANT
        else:
            found = BOT if any(word in lowered for word in self._bot_words) else 0
        cache[user_agent] = found
        return found

    def path_verdict(self, path: str) -> tuple[Skip | None, int, Skip | None, int]:
        """``(early reason, early flags, late reason, late flags)`` of a path, cached.

        Early: the download extension check, which comes first; late: the path and static checks, which come
        after the host name and status checks.
        """
        cache = self._paths
        verdict = cache.get(path)
        if verdict is not None:
            return verdict
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        o = self._o
        early: Skip | None = None
        early_flags = 0
        late: Skip | None = None
        late_flags = 0
        ext = extension(path)
        if ext:
            if ext in self._downloads:
                early_flags = DOWNLOAD
            elif ext in DEFAULT_DOWNLOAD_EXTENSIONS:
                early = Skip.DOWNLOAD_EXTENSION
        if self._exclude is not None and self._exclude.match(path):
            late = Skip.EXCLUDED_PATH
        elif self._include is not None and not self._include.match(path):
            late = Skip.NOT_INCLUDED_PATH
        elif ext in STATIC_EXTENSIONS or path.endswith("/robots.txt") or path == "robots.txt":
            if o.enable_static:
                late_flags = DOWNLOAD
            else:
                late = Skip.STATIC
        verdict = cache[path] = (early, early_flags, late, late_flags)
        return verdict

    def check(self, hit: Hit) -> tuple[Skip | None, int]:
        path = hit.path
        verdict = self._paths.get(path)
        if verdict is None:
            verdict = self.path_verdict(path)
        early, flags, late, late_flags = verdict
        if early is not None:
            return early, 0

        if self._hostnames is not None and hit.host and not self._hostnames.match(hit.host):
            return Skip.HOSTNAME, 0
        if self._more:
            reason = self.more(hit)
            if reason is not None:
                return reason, 0

        status = hit.status
        if status >= 300 and not (self._ai and self.agent(hit.user_agent) == AI_ASSISTANT):
            if status >= 400:
                if status < 600:
                    if not self._o.enable_http_errors:
                        return Skip.HTTP_ERROR, 0
                    flags |= ERROR
            elif status != 304:
                if not self._o.enable_http_redirects:
                    return Skip.HTTP_REDIRECT, 0
                flags |= REDIRECT

        if late is not None:
            return late, 0
        flags |= late_flags

        agent = self._bots.get(hit.user_agent)
        if agent is None:
            agent = self.agent(hit.user_agent)
        if agent:
            if agent == AI_ASSISTANT:
                flags |= AI_ASSISTANT
            elif not self._o.enable_bots:
                return Skip.BOT, 0
            else:
                flags |= BOT

        if self._host_filter and (
            (self._include_hosts is not None and hit.host not in self._include_hosts)
            or (self._exclude_hosts and hit.host in self._exclude_hosts)
        ):
            return Skip.HOST_FILTER, 0
        if self._dates:
            o = self._o
            if (o.older_than is not None and hit.time < o.older_than) or (
                o.newer_than is not None and hit.time > o.newer_than
            ):
                return Skip.DATE_RANGE, 0
        return None, flags
