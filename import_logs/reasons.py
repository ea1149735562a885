"""Why a line is not sent: each reason once, with the text the summary gives it.

The counters are keyed by these members, so a misspelt reason is an AttributeError (and a mypy error), not a
counter that silently never shows up in the summary. A member is also the plain string of its key
(``Skip.BOT == "bot"``, ``f"{Skip.BOT}"`` is ``bot``), which is what the JSON summary and ``-v`` show.
"""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    """A counted reason: its key (the value) and its summary text."""

    text: str

    def __new__(cls, key: str, text: str) -> Reason:
        member = str.__new__(cls, key)
        member._value_ = key
        member.text = text
        return member

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Skip(Reason):
    """A line read well but not sent; the summary lists them in this order."""

    HTTP_ERROR = ("http_error", "HTTP errors")
    HTTP_REDIRECT = ("http_redirect", "HTTP redirects")
    STATIC = ("static", "requests to static resources (css, js, images, ico, ttf...)")
    BOT = ("bot", "requests done by bots, search engines...")
    DOWNLOAD_EXTENSION = (
        "download_extension",
        "requests to file downloads that did not match any --download-extensions",
    )
    HOSTNAME = ("hostname", "requests that did not match any --hostname")
    EXCLUDED_PATH = ("excluded_path", "requests whose path matched an --exclude-path")
    NOT_INCLUDED_PATH = ("not_included_path", "requests whose path matched no --include-path")
    SKIP_OPTION = ("skip_option", "requests within the first --skip lines of their file")
    HEADER = ("header", "header lines (W3C #Fields:, #Date:..., CSV column names)")
    HOST_FILTER = ("host_filter", "requests whose host --include-host / --exclude-host leave out")
    DATE_RANGE = ("date_range", "requests outside --exclude-older-than / --exclude-newer-than")
    NOT_TRACKING = ("not_tracking_request", "requests that are not tracking requests (--replay-tracking)")
    UNKNOWN_SITE = ("unknown_site", "requests of hosts that have no site (listed below)")
    EXCLUDED_IP = ("excluded_ip", "requests from addresses --exclude-ip leaves out")
    STATUS_FILTER = ("status_filter", "requests whose status --exclude-status / --include-status leave out")
    EXCLUDED_METHOD = ("excluded_method", "requests whose method --exclude-method leaves out")
    EXCLUDED_FIELD = ("excluded_field", "requests with a field that matched an --exclude-field")
    REQUEST_LIMIT = ("request_limit", "requests beyond --debug-request-limit in their file")


class Invalid(Reason):
    """A line that cannot be read as the log's format."""

    NO_MATCH = ("no_match", "lines that match no part of the log format")
    BAD_DATE = ("bad_date", "lines with a date that cannot be read")
    BAD_STATUS = ("bad_status", "lines with a status that is not a number")
    EMPTY = ("empty_line", "empty lines")
    NUL_BYTE = ("nul_byte", "lines with a NUL byte (a file written over after a crash, or damaged)")
