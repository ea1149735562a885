"""--replay-tracking: tracking requests found in the log (``/matomo.php?idsite=1&rec=1&_id=...``) sent again.

The logged parameters are kept, the logged visitor id decides the visitor, the log's time and client IP are
added when the request did not carry them. A logged ``token_auth`` is never sent on: it is someone else's.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from import_logs.parsing.hit import Hit

#: Paths (lowercased) that end like a tracker: the two reference importers' lists together.
DEFAULT_SUFFIXES = ("piwik.php", "matomo.php", "ppms.php", "/js/", "/js/tracker.php")

#: Logged timestamps that --add-to-date shifts along with the hit.
_TIMESTAMPS = ("_idts", "_viewts", "_ects", "_refts")
#: Never replayed, in any case or form (``TOKEN_AUTH``, ``token_auth[]``): someone else's secret.
_DROPPED = frozenset({"token_auth"})


def tracking_params(hit: Hit, suffixes: tuple[str, ...], add_to_date: int = 0) -> dict[str, str] | None:
    """The logged parameters of a tracking request, or None when the hit is not one (or names no site)."""
    if not hit.query or not hit.path.lower().endswith(suffixes):
        return None
    params = {
        key: value
        for key, value in parse_qsl(hit.query, keep_blank_values=True)
        if key.lower().split("[", 1)[0] not in _DROPPED
    }
    if not params.get("idsite"):
        return None
    if add_to_date:
        for key in _TIMESTAMPS:
            value = params.get(key)
            if value and value.isdigit():
                params[key] = str(int(value) + add_to_date)
    return params


def visitor(params: dict[str, str], hit: Hit) -> str:
    """Who the request is about: the first of uid, cid, _id, cip that it carries, else the client IP."""
    for key in ("uid", "cid", "_id", "cip"):
        value = params.get(key)
        if value:
            return value
    return hit.ip or ""


def replay_params(hit: Hit, params: dict[str, str], cdt: str, idsite: str, *, dp: str = "1") -> dict[str, str]:
    """The request to send: the log's time, IP and user agent, overridden by what the request logged, and
    the site (resolved by the sender) first. ``queuedtracking`` and ``dp`` as on every other request."""
    base = {"idsite": idsite, "rec": "1", "apiv": "1", "queuedtracking": "0", "dp": dp, "cdt": cdt}
    if hit.ip:
        base["cip"] = hit.ip
    if hit.user_agent:
        base["ua"] = hit.user_agent
    base.update(params)
    base["idsite"] = idsite
    return base
