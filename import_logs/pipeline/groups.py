"""The groups the options name, checked against the format of each source before its hits are read.

Options that decide who a visitor is (:func:`check_identity`): ``--client-ip-from`` naming a group the format
does not have, ``--trusted-proxies`` where the proxies' list is logged but not read, ``--exclude-ip`` on a format
without addresses would each import every visitor under a wrong identity (a proxy's address, an address meant to
be left out) and still end with success. They stop the import instead, before anything of the source is sent,
with the format's groups and the fix. Groups named by the other options (custom variables, dimensions,
``--ignore-groups``) only warn (:func:`missing_groups`).
"""

from __future__ import annotations

from import_logs.config import DEFAULT_TRUSTED_PROXIES, Config, TrackingOptions
from import_logs.errors import ConfigError
from import_logs.parsing.formats import FormatDef

#: The group of the bundled formats that logs the X-Forwarded-For header.
FORWARDED_GROUP = "x_forwarded_for"
_FORMATS_WITH_IT = 'nginx_main (nginx\'s packaged "main": combined plus "$http_x_forwarded_for")'


def check_identity(fmt: FormatDef, config: Config, *, where: str) -> None:
    """Raise :class:`ConfigError` for an identity option that cannot apply to ``fmt`` (read from ``where``)."""
    if fmt.kind == "w3c":
        return  # a template: its groups are known once its #Fields: line is read (then it is a "regex" format)
    t = config.tracking
    ignored = set(t.ignore_groups)
    groups = fmt.groups - ignored
    listing = ", ".join(sorted(groups)) or "none"
    what = f"the {fmt.name} format of {where}"
    client = t.client_ip_group
    if client and client not in groups:
        if client in ignored:
            raise ConfigError(
                f"--client-ip-from {client}: {what} has that group, but --ignore-groups removes it, so every visitor "
                "would get the address that connected (a proxy's). Leave one of the two options out."
            )
        raise ConfigError(
            f"--client-ip-from {client}: {what} has no group {client}, so every visitor would get the address that "
            f"connected (a proxy's). Its groups: {listing}. Name a format that logs the header "
            f"(--log-format-name; bundled: {_FORMATS_WITH_IT}), give --log-format-regex with a "
            f"(?P<{client}>...) group, or leave --client-ip-from out if nothing stands in front of the server."
        )
    if not client and t.trusted_proxies != DEFAULT_TRUSTED_PROXIES and FORWARDED_GROUP in groups:
        raise ConfigError(
            f"--trusted-proxies: {what} logs the proxies in its group {FORWARDED_GROUP}, which is read only with "
            "--client-ip-from; without it every visitor gets the address that connected (a proxy's). Its groups: "
            f"{listing}. Add --client-ip-from={FORWARDED_GROUP.replace('_', '-')}, or leave --trusted-proxies out."
        )
    if config.privacy.exclude_ips and "ip" not in groups:
        raise ConfigError(
            f"--exclude-ip: {what} has no group ip, so no hit can be told by its address and none would be "
            f"excluded. Its groups: {listing}. Give a format with an (?P<ip>...) group (--log-format-regex, "
            "--log-format-name), or leave --exclude-ip and --exclude-ip-from out."
        )


def missing_groups(fmt: FormatDef, t: TrackingOptions) -> list[str]:
    """A warning for each option whose groups the format does not have; they are ignored (the reference crashed)."""
    groups = fmt.groups
    out = []
    for option, names in (
        ("--regex-group-to-page-cvar", [g for g, _ in t.page_cvars]),
        ("--regex-group-to-visit-cvar", [g for g, _ in t.visit_cvars]),
        ("--ignore-groups", list(t.ignore_groups)),
        ("--regex-group-to-page-dimension", [g for g, _ in t.page_dimensions]),
        ("--regex-group-to-visit-dimension", [g for g, _ in t.visit_dimensions]),
    ):
        missing = [name for name in names if name not in groups]
        if missing:
            out.append(
                f"{option}: the {fmt.name} format has no group {', '.join(missing)}; ignored. Its groups: "
                f"{', '.join(sorted(groups))}."
            )
    return out
