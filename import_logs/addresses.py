"""Client addresses as logs write them: parsed, matched against ranges, and picked out of a proxy chain.

Below both the line parser (:mod:`import_logs.parsing.hit`, which runs :class:`ClientAddress` inside its
generated code) and the privacy stage (:mod:`import_logs.privacy`), so that neither imports the other.
"""

from __future__ import annotations

import ipaddress

from import_logs.config import DEFAULT_TRUSTED_PROXIES

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Distinct values a per-worker cache of parsed addresses holds before it starts again.
CACHE_LIMIT = 50_000


def networks(specs: tuple[str, ...], option: str) -> tuple[Network, ...]:
    """Addresses and CIDR ranges (IPv4 and IPv6); a wrong one raises ValueError naming it and the option."""
    out = []
    for spec in specs:
        try:
            out.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{option} {spec!r} is neither an address nor a CIDR range (e.g. 192.0.2.7, 198.51.100.0/24, "
                "2001:db8::/32)"
            ) from None
    return tuple(out)


def address(text: str) -> IPAddress | None:
    """An address as logs write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``, ``2001:db8::1``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # IPv4 with a port (an IPv6 address has two colons or more)
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ClientAddress:
    """``client(field)`` → the visitor's address in a client field that lists several (``client, proxy1,
    proxy2``, the ``X-Forwarded-For`` convention): walked from the right, past the trusted proxies, as a reverse
    proxy does; when every one is trusted, the leftmost. A field with no address in it gives None."""

    def __init__(self, trusted: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES) -> None:
        self._trusted = networks(trusted, "--trusted-proxies")
        self._cache: dict[str, str | None] = {}

    def __call__(self, field: str) -> str | None:
        cache = self._cache
        try:
            return cache[field]
        except KeyError:
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            found = cache[field] = self._walk(field)
            return found

    def _walk(self, field: str) -> str | None:
        found = [ip for ip in (address(part) for part in field.split(",")) if ip is not None]
        if not found:
            return None
        for ip in reversed(found):
            if not any(ip in net for net in self._trusted if net.version == ip.version):
                return str(ip)
        return str(found[0])
