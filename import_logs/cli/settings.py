"""Options as click parsed them → the frozen :class:`Config` of an import (and the CLI's defaults)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from import_logs.addresses import networks
from import_logs.backends.encoding import DIMENSIONS
from import_logs.backends.registry import inferred
from import_logs.config import (
    DEFAULT_DOWNLOAD_EXTENSIONS,
    DEFAULT_TRUSTED_PROXIES,
    BackendOptions,
    Config,
    FilterOptions,
    FollowOptions,
    FormatOptions,
    HttpOptions,
    PrivacyOptions,
    QueueOptions,
    Secret,
    StateOptions,
    TrackingOptions,
    W3COptions,
)
from import_logs.errors import ConfigError
from import_logs.filters import FIELDS, statuses
from import_logs.parsing.timeparse import parse_iso

UNBOUNDED_ATTEMPTS = 100
#: --follow without --retry-max-attempts: a request is retried until the server answers (or a stop).
FOREVER = 1 << 62


def _split_list(values: Iterable[str]) -> list[str]:
    return [v.strip().lower().lstrip(".") for value in values for v in value.split(",") if v.strip()]


def _read_patterns(path: str | None) -> list[str]:
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def _instant(text: str | None, option: str) -> datetime | None:
    """``YYYY-MM-DD hh:mm:ss +hhmm`` (the offset may be left out: UTC)."""
    if not text:
        return None
    value = parse_iso(text.strip())
    if value is None:
        raise ConfigError(f'{option} {text!r}: give "YYYY-MM-DD hh:mm:ss +hhmm", e.g. "2024-02-10 00:00:00 +0100".')
    return value


def _pair(text: str, option: str) -> tuple[str, str]:
    """``KEY=VALUE``, split at the first ``=`` (so a value may hold more of them)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{option} {text!r}: give KEY=VALUE.")
    return key.strip(), value.strip()


def _field_regex(text: str) -> tuple[str, str]:
    field, regex = _pair(text, "--w3c-field-regex")
    if "(?P<" not in regex:
        raise ConfigError(
            f"--w3c-field-regex {text!r}: the regex needs a named group, e.g. {field}=(?P<win32_status>\\S+)."
        )
    return field, regex


def _pairs(values: Iterable[str], option: str) -> tuple[tuple[str, str], ...]:
    """``a=b,c=d`` (repeatable); a comma splits only before another ``KEY=``, so values may hold ``,`` and ``=``."""
    return tuple(
        _pair(item, option) for value in values for item in re.split(r",(?=\s*[\w-]+=)", value) if item.strip()
    )


def _items(values: Iterable[str]) -> tuple[str, ...]:
    """``a,b`` (repeatable) → ``(a, b)``, blanks dropped, case kept."""
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _checked(specs: tuple[str, ...], check: Any, option: str = "") -> tuple[str, ...]:
    """Specs that ``check`` accepts (it raises ValueError naming the wrong one) → the same specs."""
    try:
        check(specs)
    except ValueError as exc:
        raise ConfigError(f"{option + ' ' if option else ''}{exc}.") from None
    return specs


def _exclude_fields(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values:
        name, regex = _pair(value, "--exclude-field")
        if name not in FIELDS:
            raise ConfigError(f"--exclude-field {value!r}: {name!r} is not a field; give one of {', '.join(FIELDS)}.")
        try:
            re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"--exclude-field {value!r}: the regex does not compile ({exc}).") from None
        out.append((name, regex))
    return tuple(out)


def _dimension_ids(values: Iterable[str], option: str, names: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """``NAME=ID`` pairs whose IDs are custom dimension numbers (and, given ``names``, whose NAMEs are known)."""
    pairs = _pairs(values, option)
    for name, ident in pairs:
        if not ident.isdigit():
            raise ConfigError(f"{option} {name}={ident}: the dimension is its number (its ID in the backend).")
        if names and name not in names:
            raise ConfigError(f"{option} {name}={ident}: {name!r} is not one of {', '.join(names)}.")
    return pairs


def _privacy(o: dict[str, Any]) -> PrivacyOptions:
    if o["drop_user_id"] and o["hash_user_id"]:
        raise ConfigError("--drop-user-id and --hash-user-id: give one of them.")
    if o["hash_user_id"] and not o["hash_salt"]:
        raise ConfigError(
            "--hash-user-id needs --hash-salt (better in IMPORT_LOGS_HASH_SALT): a secret of your own, kept from one "
            "run to the next, so that a user keeps one id and the hash cannot be reversed by trying known ids."
        )
    excluded = _items(o["exclude_ip"]) + tuple(_read_patterns(o["exclude_ip_from"]))
    privacy = PrivacyOptions(
        exclude_ips=_checked(excluded, lambda specs: networks(specs, "--exclude-ip")),
        anonymize_ip=o["anonymize_ip"],
        user_id="drop" if o["drop_user_id"] else "hash" if o["hash_user_id"] else "keep",
        hash_salt=Secret(o["hash_salt"]) if o["hash_salt"] else None,
        strip_query_params=_items(o["strip_query_param"]),
    )
    if o["replay_tracking"] and (privacy.anonymize_ip or privacy.user_id != "keep" or privacy.strip_query_params):
        raise ConfigError(
            "--replay-tracking sends the logged requests with their own cip, uid and url, which --anonymize-ip, "
            "--drop-user-id, --hash-user-id and --strip-query-param do not rewrite. Leave those out, or do not "
            "replay (--exclude-ip works with both)."
        )
    return privacy


def build_config(o: dict[str, Any]) -> Config:
    """Options as click parsed them → the frozen configuration of the import."""
    url, url_user, url_password = split_credentials(o["url"])
    o = {
        **o,
        "url": url,
        "auth_user": o["auth_user"] or url_user,
        "auth_password": o["auth_password"] or url_password,
    }
    if o["ai_assistants"] and backend_name(o) != "matomo":
        raise ConfigError(
            f"--ai-assistants is for Matomo 5.7+ (its bot mode and AI Assistants reports); {backend_name(o)} has no "
            "such reports. Leave it out."
        )
    downloads = (
        set(_split_list(o["download_extensions"])) if o["download_extensions"] else set(DEFAULT_DOWNLOAD_EXTENSIONS)
    )
    downloads |= set(_split_list(o["add_download_extensions"]))
    attempts = o["retry_max_attempts"]
    if attempts is None:  # a service waits out an outage; a cron run gives up and the next one goes on
        attempts = FOREVER if o["follow"] else HttpOptions.max_attempts
    secret = o["client_secret"]
    one_hit_every = o["debug_force_one_hit_every_ns"]
    payload = o["recorder_max_payload_size"]
    if o["disable_bulk_tracking"] or one_hit_every is not None:
        payload = 1
    pause = o["sleep_between_requests_ms"] / 1000.0
    if one_hit_every is not None:
        pause = max(pause, one_hit_every)
    return Config(
        inputs=tuple(o["files"]),
        formats=FormatOptions(
            name=o["log_format_name"],
            regex=o["log_format_regex"],
            date_format=o["log_date_format"],
            encoding=o["encoding"],
            timezone=o["timezone"],
            w3c=W3COptions(
                fields=o["w3c_fields"],
                map_fields=tuple(
                    _pair(item, "--w3c-map-field") for value in o["w3c_map_field"] for item in value.split(",") if item
                ),
                field_regexes=tuple(_field_regex(value) for value in o["w3c_field_regex"]),
                time_taken_millis=o["w3c_time_taken_millisecs"],
            ),
        ),
        filters=FilterOptions(
            enable_static=o["enable_static"],
            enable_bots=o["enable_bots"],
            enable_http_errors=o["enable_http_errors"],
            enable_http_redirects=o["enable_http_redirects"],
            download_extensions=frozenset(downloads),
            useragent_exclude=tuple(o["useragent_exclude"]),
            hostnames=tuple(o["hostname"]),
            exclude_paths=tuple(o["exclude_path"]) + tuple(_read_patterns(o["exclude_path_from"])),
            include_paths=tuple(o["include_path"]) + tuple(_read_patterns(o["include_path_from"])),
            include_hosts=tuple(o["include_host"]),
            exclude_hosts=tuple(o["exclude_host"]),
            older_than=_instant(o["exclude_older_than"], "--exclude-older-than"),
            newer_than=_instant(o["exclude_newer_than"], "--exclude-newer-than"),
            exclude_status=_checked(_items(o["exclude_status"]), statuses, "--exclude-status"),
            include_status=_checked(_items(o["include_status"]), statuses, "--include-status"),
            exclude_methods=tuple(m.upper() for m in _items(o["exclude_method"])),
            exclude_fields=_exclude_fields(o["exclude_field"]),
        ),
        tracking=TrackingOptions(
            strip_query_string=o["strip_query_string"],
            query_string_delimiter=o["query_string_delimiter"],
            log_hostname=o["log_hostname"],
            enable_reverse_dns=o["enable_reverse_dns"],
            title_category_delimiter=o["title_category_delimiter"],
            add_to_date=o["add_to_date"],
            lowercase_path=o["force_lowercase_path"],
            page_cvars=_pairs(o["regex_group_to_page_cvar"], "--regex-group-to-page-cvar"),
            visit_cvars=_pairs(o["regex_group_to_visit_cvar"], "--regex-group-to-visit-cvar"),
            track_http_method=o["track_http_method"],
            ignore_groups=_items(o["ignore_groups"]),
            client_ip_group=o["client_ip_from"].strip().lower().replace("-", "_") if o["client_ip_from"] else None,
            trusted_proxies=_checked(
                _items(o["trusted_proxies"]) or DEFAULT_TRUSTED_PROXIES,
                lambda specs: networks(specs, "--trusted-proxies"),
            ),
            extra_params=_pairs(o["tracking_param"], "--tracking-param"),
            dimensions=_dimension_ids(o["dimension"], "--dimension", DIMENSIONS),
            page_dimensions=_dimension_ids(o["regex_group_to_page_dimension"], "--regex-group-to-page-dimension"),
            visit_dimensions=_dimension_ids(o["regex_group_to_visit_dimension"], "--regex-group-to-visit-dimension"),
        ),
        privacy=_privacy(o),
        backend=BackendOptions(
            name=backend_name(o),
            url=o["url"],
            tracker_endpoint_path=o["tracker_endpoint_path"],
            client_id=o["client_id"],
            client_secret=Secret(secret) if secret else None,
            idsite=o["idsite"],
            recorders=max(1, o["recorders"]),
            payload_size=payload,
            token_auth=Secret(o["token_auth"]) if o["token_auth"] else None,
            login=o["login"],
            password=Secret(o["password"]) if o["password"] else None,
            api_url=o["api_url"],
            matomo_config=o["config"],
            php_binary=o["php_binary"] or BackendOptions.php_binary,
            php_testmode=o["enable_testmode"],
            ai_assistants=o["ai_assistants"],
            idsite_fallback=o["idsite_fallback"],
            add_sites_new_hosts=o["add_sites_new_hosts"],
            replay_tracking=o["replay_tracking"],
            replay_suffixes=(o["replay_tracking_expected_tracker_file"],)
            if o["replay_tracking_expected_tracker_file"]
            else (),
        ),
        http=HttpOptions(
            timeout=o["request_timeout"],
            connect_timeout=min(HttpOptions.connect_timeout, o["request_timeout"]),
            assumed_https=bool(o["url"]) and "://" not in o["url"],
            max_attempts=attempts if attempts > 0 else UNBOUNDED_ATTEMPTS,
            retry_delay=o["retry_delay"],
            max_wait=60.0 if o["follow"] else HttpOptions.max_wait,
            verify_tls=not o["accept_invalid_ssl_certificate"],
            basic_user=o["auth_user"],
            basic_password=Secret(o["auth_password"]) if o["auth_password"] else None,
            request_suffix=o["request_suffix"],
            sleep_between=pause,
            debug_tracker=o["debug_tracker"],
        ),
        state=StateOptions(
            path=o["state_file"],
            directory=None if o["no_state"] else default_state_dir(),
            force_reimport=o["force_reimport"],
            lock_timeout=o["lock_timeout"],
            skip=o["skip"],
            settle=o["objects_settle"],
        ),
        workers=o["workers"],
        dry_run=o["dry_run"],
        save_requests=o["save_requests"],
        verbose=max(o["verbose"], o["debug"]),
        request_limit=o["debug_request_limit"],
        follow=FollowOptions(
            enabled=o["follow"],
            flush_interval=o["flush_interval"],
            poll=o["follow_poll"],
            rotate_grace=max(FollowOptions.rotate_grace, 2 * o["follow_poll"]),
        ),
        s3_endpoint=o["s3_endpoint_url"],
        queue=QueueOptions(url=o["queue"], other=o["queue_other"], max_receives=o["queue_max_receives"]),
        lateness=o["lateness"],
    )


def warnings(o: dict[str, Any]) -> list[str]:
    """What the command line says that has no effect here, in one line each."""
    said = []
    if o.get("config") and (o.get("token_auth") or o.get("login")):
        said.append("--config is not used: the Matomo token comes from --token-auth (or --login), so PHP is not run.")
    elif (o.get("php_binary") or o.get("enable_testmode")) and not o.get("config"):
        said.append("--php-binary and --enable-testmode apply only with --config (Matomo's token through its PHP).")
    url = split_credentials(o.get("url"))[0]
    if url and "://" not in url:
        said.append(f"--url {url}: no scheme, so https:// is assumed; give http://{url} for a plain-HTTP server.")
    if o.get("force_reimport"):
        said.append(
            "--force-reimport: the lines imported before are sent again, and the backend counts them twice "
            "(it keeps no record of what it received). Use it after deleting those hits, or for another site."
        )
    if o.get("enable_bulk_tracking"):
        pass  # the Piwik PRO documentation's spelling of the default: nothing to say
    if o.get("auth_user") and (o.get("client_id") or o.get("backend") in ("piwikpro", "pirsch")):
        said.append(
            "--auth-user: requests that carry the API bearer token cannot also carry HTTP Basic; it is sent on the "
            "others only."
        )
    return said


def split_credentials(url: str | None) -> tuple[str | None, str | None, str | None]:
    """``http://user:pass@host/`` → (``http://host/``, user, password): credentials in --url are HTTP Basic,
    and must not reach the state file's name and contents, the summary or a message."""
    if not url or "@" not in url.split("://", 1)[-1].split("/", 1)[0]:
        return url, None, None
    scheme, has_scheme, rest = url.partition("://") if "://" in url else ("", "", url)
    netloc, slash, path = rest.partition("/")
    userinfo, _, host = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = f"{scheme}{has_scheme}{host}{slash}{path}"
    return clean, unquote(user) or None, unquote(password) or None


def backend_name(o: dict[str, Any]) -> str:
    """--backend, or what the other options point to (see each backend's entry in the registry: a Matomo token, a
    Pirsch URL or access key...)."""
    if o.get("backend"):
        return str(o["backend"])
    given = {"--" + key.replace("_", "-") for key, value in o.items() if value}
    return inferred(given, o.get("url"), o.get("client_secret"))


def default_state_dir() -> str:
    """``$IMPORT_LOGS_STATE_DIR``, else ``$STATE_DIRECTORY`` (what systemd sets for a unit's
    ``StateDirectory=``: a service user made with ``useradd -r`` has no home), else ``$XDG_STATE_HOME/import-logs``,
    else ``~/.local/state/import-logs``."""
    explicit = os.environ.get("IMPORT_LOGS_STATE_DIR")
    if explicit:
        return explicit
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]  # several directories: the first
    if systemd:
        return systemd
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "import-logs")
