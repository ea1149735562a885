"""What the encoders share, as parts to compose: URL normalising, JSON string literals, bounded caches of
values that repeat, the URL of a hit, custom variables and error titles.

Runs in the workers, once per hit: each part is a plain function or a dict, no method lookups in the hot path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import TypeVar
from urllib.parse import quote, urlsplit

import ujson

from import_logs.backends.base import SITE_PLACEHOLDER, EncodeSpec
from import_logs.filters import BOT
from import_logs.parsing.hit import Hit

#: URLs and referrers are cut to this length, as the reference importers do.
MAX_URL = 1024
#: A cache of repeating values is emptied when it holds this many (bounded memory on any log).
CACHE_LIMIT = 100_000

K = TypeVar("K", bound=Hashable)


def normalise_url(url: str) -> str:
    """``example.piwik.pro`` → ``https://example.piwik.pro`` (Piwik PRO's default scheme), no trailing slash;
    the scheme and the host lowercased, so that ``HTTP://X`` and ``http://x`` are one destination."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    scheme, rest = url.split("://", 1)
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    return f"{scheme.lower()}://{userinfo}{at}{host.lower()}{slash}{path}".rstrip("/")


def json_string(text: str) -> str:
    """The JSON string literal of ``text``, non-ASCII kept, ``/`` not escaped.

    Most values (URLs, paths) need no escape: printable text without ``"`` or ``\\`` (``isprintable`` is
    False for control characters, DEL, U+2028/U+2029 and lone surrogates) is only quoted, which costs a
    fraction of a ``ujson`` call; the rest goes through ``ujson``.
    """
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return str(ujson.dumps(text, ensure_ascii=False, escape_forward_slashes=False))


def url_quote(text: str) -> str:
    """``text`` as one query-string value (everything but letters, digits and ``_.-~`` escaped)."""
    return quote(text, safe="")


class Memo(dict[K, str]):
    """``memo[value]``: ``make(value)``, made once per value that repeats (user agents, referrers, IPs, the
    seconds of the log), the cache emptied when full."""

    def __init__(self, make: Callable[[K], str]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: K) -> str:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        value = self[key] = self._make(key)
        return value


def site_of(spec: EncodeSpec) -> str:
    """The site every request names: the one site, or the placeholder the main process fills in per hit."""
    return SITE_PLACEHOLDER if spec.per_hit_site else spec.idsite


def page_url(spec: EncodeSpec) -> Callable[[str | None, str, str], str]:
    """``(host, path, query)`` of a hit → its URL: the path (and query, unless stripped) under the host, or
    under the site's main URL for formats without a host; at most :data:`MAX_URL` characters of path."""
    t = spec.tracking
    scheme = urlsplit(spec.main_url).scheme or "https"
    main = spec.main_url.rstrip("/")
    strip, delimiter = t.strip_query_string, t.query_string_delimiter

    def url(host: str | None, path: str, query: str) -> str:
        if query and not strip:
            path = f"{path}{delimiter}{query}"
        path = path[:MAX_URL]
        if not path.startswith("/"):
            return path
        if host:
            return f"{scheme}://{host}{path}"
        return main + path

    return url


class UrlMemo(dict[tuple[str | None, str, str], tuple[str, str]]):
    """``urls[hit.host, hit.path, hit.query]`` → ``(url, encoded url)``: the URL of a hit (:func:`page_url`) and
    its encoding in the request (``encode``: a JSON string literal, a query-string value), made once per page
    that repeats, the cache emptied when full. A lookup costs a tuple and a dict probe; building, two calls."""

    def __init__(self, spec: EncodeSpec, encode: Callable[[str], str]) -> None:
        super().__init__()
        self._url = page_url(spec)
        self._encode = encode

    def __missing__(self, key: tuple[str | None, str, str]) -> tuple[str, str]:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        url = self._url(*key)
        value = self[key] = (url, self._encode(url))
        return value


#: What ``--dimension NAME=ID`` may send as a custom dimension: the bot flag, the status, the method.
DIMENSIONS = ("bot", "http-status", "http-method")


def dimensions(spec: EncodeSpec) -> Callable[[Hit, int], list[tuple[str, str]]] | None:
    """``(hit, flags)`` → the ``dimensionID`` parameters of a hit: the groups named by
    --regex-group-to-page/visit-dimension (read by the parser), then the --dimension values; None: no dimension."""
    t = spec.tracking
    named = t.dimensions
    if not named and not (t.page_dimensions or t.visit_dimensions):
        return None

    def values(hit: Hit, flags: int) -> list[tuple[str, str]]:
        out = [(f"dimension{ident}", value) for ident, value in hit.dimensions]
        for name, ident in named:
            if name == "bot":
                value = "Bot" if flags & BOT else "Not-Bot"
            elif name == "http-status":
                value = str(hit.status)
            else:
                value = hit.method or ""
            out.append((f"dimension{ident}", value))
        return out

    return values


def page_cvars(hit: Hit, track_http_method: bool) -> str | None:
    """The ``cvar`` JSON: regex-group page variables, HTTP-method, then HTTP-code last (None: that alone)."""
    entries = list(hit.page_cvars)
    if track_http_method and hit.method and hit.method != "-":
        entries.append(("HTTP-method", hit.method))
    if not entries:
        return None
    entries.append(("HTTP-code", str(hit.status)))
    return json.dumps({str(i): [name, value] for i, (name, value) in enumerate(entries, 1)})


def visit_cvars(hit: Hit, flags: int, bots: bool) -> str | None:
    """The ``_cvar`` JSON: regex-group visit variables, then Bot/Not-Bot with --enable-bots."""
    entries = list(hit.visit_cvars)
    if bots:
        entries.append(("Bot" if flags & BOT else "Not-Bot", hit.user_agent))
    if not entries:
        return None
    return json.dumps({str(i): [name, value] for i, (name, value) in enumerate(entries, 1)})


def title(status: int, url: str, referrer: str, delimiter: str) -> str:
    """The title of an error or a redirect: ``404/URL = <quoted url>/From = <quoted referrer>``."""
    text = f"{status}{delimiter}URL = {quote(url, safe='')}"
    if referrer:
        text += f"{delimiter}From = {quote(referrer, safe='')}"
    return text
