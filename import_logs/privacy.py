"""Privacy, in the workers, before anything is sent or saved: the visitor's real address behind trusted
proxies, excluded addresses (counted), masked addresses, user ids dropped or hashed, query parameters removed.

:class:`~import_logs.addresses.ClientAddress` runs inside the generated line parser: a client field that lists
several addresses (``X-Forwarded-For``: ``client, proxy1, proxy2``) becomes the visitor's. :class:`Privacy` is
built once per worker from :class:`~import_logs.config.PrivacyOptions`; ``privacy(hit)`` returns the hit as it
may leave the machine, or ``None`` for a hit of an excluded address; it reads the hit by name. Each distinct
address is parsed once (bounded caches), so a log of a few thousand visitors costs a dict lookup per line. With
no privacy option given the worker does not call it at all.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import unquote_plus

from import_logs.addresses import CACHE_LIMIT, IPAddress, address, networks
from import_logs.config import PrivacyOptions
from import_logs.parsing.hit import Hit

_new = tuple.__new__
#: Where the fields privacy may change sit in a Hit, found by name once: a field added to Hit moves nothing here.
_IP, _USERID, _QUERY, _REFERRER = (Hit._fields.index(name) for name in ("ip", "userid", "query", "referrer"))

#: The prefix an IPv6 address keeps at each --anonymize-ip level: 1 → /64, 2 → /48, 3 → /24, 4 → nothing.
IPV6_KEPT = {1: 64, 2: 48, 3: 24, 4: 0}


def masked(ip: IPAddress, level: int) -> IPAddress:
    """The address with its last ``level`` bytes (IPv4) or all but the kept prefix (IPv6) set to zero."""
    if ip.version == 4:
        bits = 8 * min(level, 4)
        return ipaddress.IPv4Address(int(ip) >> bits << bits)
    drop = 128 - IPV6_KEPT[min(level, 4)]
    return ipaddress.IPv6Address(int(ip) >> drop << drop)


class Privacy:
    """``privacy(hit)`` → the hit that may leave the machine, or None when its address is excluded."""

    def __init__(self, options: PrivacyOptions) -> None:
        self._o = options
        self._excluded = networks(options.exclude_ips, "--exclude-ip")
        self._salt = options.hash_salt.reveal().encode() if options.hash_salt else b""
        self._strip = frozenset(options.strip_query_params)
        #: Logged client field → the address that may leave the machine ("" when excluded; None: none).
        self._ips: dict[str, str | None] = {}
        #: Logged user → the id sent (hashing costs a few µs: once per user).
        self._users: dict[str, str | None] = {}

    def _resolve(self, field: str) -> str | None:
        ip = address(field)
        if ip is None:  # not an address (a host name, a placeholder): nothing to exclude; nothing to mask, so none
            return None if self._o.anonymize_ip else field
        if any(ip in net for net in self._excluded if net.version == ip.version):
            return ""
        if self._o.anonymize_ip:
            ip = masked(ip, self._o.anonymize_ip)
        text = str(ip)
        return field if text == field else text

    def _query(self, query: str) -> str:
        """The query without the parameters to strip, the others kept as they were written."""
        if not query or ("%" not in query and "+" not in query and not any(name in query for name in self._strip)):
            return query  # no name to strip in it, written or encoded: the common case, without a split
        parts = query.split("&")
        kept = [part for part in parts if unquote_plus(part.partition("=")[0]) not in self._strip]
        return query if len(kept) == len(parts) else "&".join(kept)

    def _referrer(self, referrer: str) -> str:
        base, sep, query = referrer.partition("?")
        if not sep:
            return referrer
        stripped = self._query(query)
        return referrer if stripped is query else (base + "?" + stripped if stripped else base)

    def user_id(self, userid: str) -> str | None:
        if self._o.user_id == "drop":
            return None
        if self._o.user_id == "hash":
            return hmac.new(self._salt, userid.encode(), hashlib.sha256).hexdigest()[:32]
        return userid

    def __call__(self, hit: Hit) -> Hit | None:
        logged = hit.ip
        ip = logged
        if logged is not None:
            cache = self._ips
            try:
                ip = cache[logged]
            except KeyError:
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                ip = cache[logged] = self._resolve(logged)
            if ip == "":
                return None
        logged_user = hit.userid
        userid = logged_user
        if logged_user and self._o.user_id != "keep":
            users = self._users
            try:
                userid = users[logged_user]
            except KeyError:
                if len(users) >= CACHE_LIMIT:
                    users.clear()
                userid = users[logged_user] = self.user_id(logged_user)
        query = logged_query = hit.query
        referrer = logged_referrer = hit.referrer
        if self._strip:
            query, referrer = self._query(query), self._referrer(referrer)
        if ip is logged and userid is logged_user and query is logged_query and referrer is logged_referrer:
            return hit
        # What hit._replace(...) makes, without its keyword handling (this runs once per line): a third of the cost.
        fields = list(hit)
        fields[_IP], fields[_USERID], fields[_QUERY], fields[_REFERRER] = ip, userid, query, referrer
        return _new(type(hit), fields)
