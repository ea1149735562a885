"""The one frozen configuration of an import, passed explicitly to every stage and to the workers.

The command line builds a :class:`Config`; the core never reads argv, the environment or the terminal.
Every part is immutable and picklable, so worker processes started by spawn or forkserver get the same view.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any

#: What the reference Piwik PRO importer takes as downloads (its documentation's list, "Tracking downloads
#: when using log importer"). Matomo's adds md5 and sig.
DEFAULT_DOWNLOAD_EXTENSIONS = frozenset(
    (
        "7z aac apk arc arj asf asx avi azw3 bin bz2 csv deb dmg doc docx epub exe flac flv gz gzip hqx ibooks jar "
        "json mobi mov movie mp2 mp3 mp4 mpeg mpg msi msp odb odf odg odp ods odt ogg ogv pdf phps ppt pptx qt qtm "
        "ra ram rar rpm rtf sea sit tar tbz tgz torrent txt wav webm wma wmv wpd xls xlsx xml xsd z zip"
    ).split()
)

#: Static resources, skipped unless --enable-static.
STATIC_EXTENSIONS = frozenset(
    [
        "gif",
        "jpg",
        "jpeg",
        "png",
        "bmp",
        "ico",
        "svg",
        "svgz",
        "ttf",
        "otf",
        "eot",
        "woff",
        "woff2",
        "class",
        "swf",
        "css",
        "js",
        "xml",
        "webp",
    ]
)

#: Lowercased user-agent substrings that mark a bot (the reference importers' list).
BOT_SUBSTRINGS = (
    "adsbot-google",
    "ask jeeves",
    "baidubot",
    "bot-",
    "bot/",
    "ccooter/",
    "crawl",
    "curl",
    "echoping",
    "exabot",
    "feed",
    "googlebot",
    "ia_archiver",
    "java/",
    "libwww",
    "mediapartners-google",
    "msnbot",
    "netcraftsurvey",
    "panopta",
    "pingdom.com_bot_",
    "robot",
    "spider",
    "surveybot",
    "twiceler",
    "voilabot",
    "yahoo",
    "yandex",
    "zabbix",
    "googlestackdrivermonitoring",
)

#: AI assistants fetching a page for a person (lower case): the user agents Matomo's BotTracking plugin records
#: in its AI Assistants reports (plugins/BotTracking/BotDetector.php); others sent in its bot mode are dropped.
AI_ASSISTANT_SUBSTRINGS = (
    "chatgpt-user",
    "mistralai-user",
    "gemini-deep-research",
    "claude-user",
    "perplexity-user",
    "duckassistbot",
    "google-gemininotebook",
    "google-notebooklm",
)


#: Proxies trusted when --trusted-proxies is not given: loopback, private, link-local and carrier-grade NAT
#: ranges (what a load balancer in front of the web server connects from).
DEFAULT_TRUSTED_PROXIES = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class W3COptions:
    """--w3c-fields, --w3c-map-field, --w3c-field-regex, --w3c-time-taken-millisecs."""

    fields: str | None = None
    map_fields: tuple[tuple[str, str], ...] = ()
    field_regexes: tuple[tuple[str, str], ...] = ()
    time_taken_millis: bool = False


@dataclass(frozen=True)
class FormatOptions:
    """How lines are read: --log-format-name, --log-format-regex, --log-date-format, --encoding."""

    name: str | None = None
    regex: str | None = None
    date_format: str | None = None
    encoding: str = "utf-8"
    #: The zone of timestamps written without an offset (--timezone); None: UTC.
    timezone: str | None = None
    w3c: W3COptions = field(default_factory=W3COptions)


@dataclass(frozen=True)
class FilterOptions:
    """Which hits are kept. Every hit that is not kept is counted under one reason."""

    enable_static: bool = False
    enable_bots: bool = False
    enable_http_errors: bool = False
    enable_http_redirects: bool = False
    download_extensions: frozenset[str] = DEFAULT_DOWNLOAD_EXTENSIONS
    useragent_exclude: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    include_paths: tuple[str, ...] = ()
    #: --include-host / --exclude-host: exact host names (compared in lower case).
    include_hosts: tuple[str, ...] = ()
    exclude_hosts: tuple[str, ...] = ()
    #: --exclude-older-than / --exclude-newer-than (aware datetimes).
    older_than: datetime | None = None
    newer_than: datetime | None = None
    #: --exclude-status / --include-status: codes (``301``) and classes (``3xx``).
    exclude_status: tuple[str, ...] = ()
    include_status: tuple[str, ...] = ()
    #: --exclude-method: methods, in upper case.
    exclude_methods: tuple[str, ...] = ()
    #: --exclude-field FIELD=REGEX: (a field of the hit, a regex searched in its value).
    exclude_fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TrackingOptions:
    """How a kept hit becomes a tracking request."""

    strip_query_string: bool = False
    query_string_delimiter: str = "?"
    log_hostname: str | None = None
    enable_reverse_dns: bool = False
    title_category_delimiter: str = "/"
    #: --add-to-date: seconds added to every timestamp (may be negative).
    add_to_date: int = 0
    #: --force-lowercase-path: the path (and a query written with it) in lower case.
    lowercase_path: bool = False
    #: --regex-group-to-page-cvar / --regex-group-to-visit-cvar: (group, custom variable name).
    page_cvars: tuple[tuple[str, str], ...] = ()
    visit_cvars: tuple[tuple[str, str], ...] = ()
    #: --track-http-method: the method as page custom variable ``HTTP-method``.
    track_http_method: bool = False
    #: --ignore-groups: groups of the format read as if it did not have them.
    ignore_groups: tuple[str, ...] = ()
    #: --client-ip-from: a group of the format listing the client and its proxies (X-Forwarded-For), read in
    #: front of the connecting address; --trusted-proxies: the proxies skipped when looking for the visitor.
    client_ip_group: str | None = None
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    #: --tracking-param NAME=VALUE: added to every tracking request (Piwik PRO's privacy flags, say).
    extra_params: tuple[tuple[str, str], ...] = ()
    #: --dimension NAME=ID: what import-logs knows of a hit (see backends.encoding.DIMENSIONS) sent as custom
    #: dimension ID; --regex-group-to-page-dimension / --regex-group-to-visit-dimension: (group, dimension id).
    dimensions: tuple[tuple[str, str], ...] = ()
    page_dimensions: tuple[tuple[str, str], ...] = ()
    visit_dimensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PrivacyOptions:
    """What is removed or masked in the workers before anything is sent or saved."""

    #: --exclude-ip: addresses and CIDR ranges whose hits are counted and never sent.
    exclude_ips: tuple[str, ...] = ()
    #: --anonymize-ip N (1-4): bytes of an IPv4 address set to zero (IPv6: see privacy.IPV6_KEPT); 0: none.
    anonymize_ip: int = 0
    #: The log's user field: "keep", "drop" (--drop-user-id) or "hash" (--hash-user-id, keyed by hash_salt).
    user_id: str = "keep"
    hash_salt: Secret | None = None
    #: --strip-query-param: parameters removed from the URL's and the referrer's query.
    strip_query_params: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.exclude_ips or self.anonymize_ip or self.user_id != "keep" or self.strip_query_params)


@dataclass(frozen=True)
class HttpOptions:
    """Timeouts and the retry policy shared by every request."""

    timeout: float = 300.0
    #: Connecting is bounded apart, and much shorter: a server that does not answer a connection says so fast.
    connect_timeout: float = 10.0
    #: --url had no scheme, so https:// was assumed (said when the TLS handshake fails).
    assumed_https: bool = False
    max_attempts: int = 3
    retry_delay: float = 10.0
    #: No single wait (back-off or Retry-After) is longer than this.
    max_wait: float = 300.0
    verify_tls: bool = True
    #: --auth-user / --auth-password: HTTP Basic on every request that carries no bearer token.
    basic_user: str | None = None
    basic_password: Secret | None = None
    #: --request-suffix: appended to the query of every request (tracker and API).
    request_suffix: str | None = None
    #: --sleep-between-requests-ms (in seconds): each lane waits this long before each request.
    sleep_between: float = 0.0
    #: --debug-tracker: ``debug=1`` on tracking requests, and their answers shown.
    debug_tracker: bool = False


@dataclass(frozen=True)
class BackendOptions:
    """Where the hits go and with which credentials."""

    name: str = "piwikpro"
    url: str | None = None
    tracker_endpoint_path: str | None = None  # None: the backend's default
    client_id: str | None = None
    client_secret: Secret | None = None
    idsite: str | None = None
    recorders: int = 1
    payload_size: int | None = None  # None: the backend's default
    #: Matomo: --token-auth, or --login and --password to create one; --api-url (default: --url).
    token_auth: Secret | None = None
    login: str | None = None
    password: Secret | None = None
    api_url: str | None = None
    #: Matomo without a token: --config (its config.ini.php or directory) runs its updatetoken.php through
    #: --php-binary (--enable-testmode adds --testmode), as Matomo's own importer does on the Matomo server.
    matomo_config: str | None = None
    php_binary: str = "php"
    php_testmode: bool = False
    #: Matomo 5.7+ with BotTracking: AI assistants' requests in its bot mode (None: where the server records them).
    ai_assistants: bool | None = None
    #: No --idsite: --idsite-fallback takes unknown hosts; --add-sites-new-hosts creates their sites.
    idsite_fallback: str | None = None
    add_sites_new_hosts: bool = False
    #: --replay-tracking, and the tracker paths it looks for (empty: the default list).
    replay_tracking: bool = False
    replay_suffixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateOptions:
    """Where the state of each destination is kept, and how a run uses it."""

    #: --state-file; None: a file named after the destination in ``directory``.
    path: str | None = None
    #: The default directory (the CLI passes the user's state directory); None with no path: no state.
    directory: str | None = None
    force_reimport: bool = False
    #: Seconds to wait for another run that holds the state file.
    lock_timeout: float = 10.0
    #: --skip N: the first N lines of every file are not imported.
    skip: int = 0
    #: --objects-settle: an object of a listed bucket is folded into its pattern's mark (its entry dropped, and
    #: the next listings start after it) once it was last modified this many seconds ago.
    settle: float = 86400.0


@dataclass(frozen=True)
class FollowOptions:
    """--follow: keep reading the files as they grow and across rotations, until stopped."""

    enabled: bool = False
    #: --flush-interval: a partial batch waits at most this long before it is sent.
    flush_interval: float = 5.0
    #: --follow-poll: seconds between two looks at the files.
    poll: float = 1.0
    #: A renamed or removed file is read on until it has not grown for this long (its writer reopens the log).
    rotate_grace: float = 2.0


@dataclass(frozen=True)
class QueueOptions:
    """--queue: S3 event notifications on an SQS queue announce the objects to import."""

    url: str | None = None
    #: --queue-other: a message for an object the inputs do not name is "leave" (for another consumer) or "delete".
    other: str = "leave"
    #: --queue-max-receives: a message that cannot be processed is deleted once SQS has handed it out this often
    #: (0: never; the queue's own redrive policy moves it to a dead-letter queue).
    max_receives: int = 5


@dataclass(frozen=True)
class Config:
    """Everything one import needs; built by the CLI, or by a test, and never changed afterwards."""

    inputs: tuple[str, ...]
    formats: FormatOptions = field(default_factory=FormatOptions)
    filters: FilterOptions = field(default_factory=FilterOptions)
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    privacy: PrivacyOptions = field(default_factory=PrivacyOptions)
    backend: BackendOptions = field(default_factory=BackendOptions)
    http: HttpOptions = field(default_factory=HttpOptions)
    state: StateOptions = field(default_factory=StateOptions)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    dry_run: bool = False
    save_requests: str | None = None  # a path, or "-" for standard output
    verbose: int = 0
    block_size: int = 1 << 20
    #: --lateness: how far back in a log's own time its hits are put back in order before they are sent (servers
    #: log a request when it ends, stamped with its start); a hit later than that is sent anyway, counted late.
    lateness: float = 60.0
    #: --debug-request-limit: at most this many hits of each file (a trial run: no state is kept).
    request_limit: int | None = None
    follow: FollowOptions = field(default_factory=FollowOptions)
    #: --s3-endpoint-url (else AWS_ENDPOINT_URL, else AWS itself), for s3:// inputs.
    s3_endpoint: str | None = None
    queue: QueueOptions = field(default_factory=QueueOptions)


def field_default(path: str) -> Any:
    """The default of a :class:`Config` field by its dotted path (``"http.timeout"``), for the command line to
    take instead of typing it again; a default that is computed (``workers``) is the function that computes it."""
    owner: Any = Config
    *parts, name = path.split(".")
    for part in parts:  # a nested part's default is its class
        owner = next(f for f in fields(owner) if f.name == part).default_factory
    found = next(f for f in fields(owner) if f.name == name)
    if found.default is not MISSING:
        return found.default
    if found.default_factory is not MISSING:
        return found.default_factory
    raise ValueError(f"{path} has no default")
