"""Every error the core raises on purpose.

Each keeps its facts as attributes and ends its message with what to do about it. The command line maps the
classes to exit codes in one place (``cli.EXIT_CODES``); nothing here exits.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes, documented in the README."""

    OK = 0
    FAILURE = 1  # an unexpected internal error (a bug: please report it)
    USAGE = 2  # a wrong option or a missing one
    INPUT = 3  # a log file missing or unreadable, a format unknown or not recognised
    AUTH = 4  # credentials refused, or the site or app cannot be used with them
    SERVER = 5  # the server is unreachable, keeps failing, or rejected a request
    NOTHING_NEW = 6  # not an error: no new line in any file (everything was imported before)
    STATE = 7  # the state file cannot be read, created or written, is damaged, newer, or not one of ours
    BUSY = 75  # another import holds the state file (EX_TEMPFAIL: try again later)
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    OUTPUT_CLOSED = 141  # --save-requests=- and the reader closed the pipe (128 + SIGPIPE, as a shell reports it)
    TERMINATED = 143  # SIGTERM


class ImportLogsError(Exception):
    """Base of every error that stops an import with a message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ImportLogsError):
    """Options that cannot work together, found after the command line was parsed."""


class InputError(ImportLogsError):
    """A log file that does not exist or cannot be read."""

    def __init__(self, path: str, reason: str, fix: str = "Check the path and its permissions.") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}. {fix}")


class CorruptInputError(InputError):
    """A compressed file that ends early or is damaged. It does not stop the import: the lines before the fault
    are imported, the file is named and counted, and a later run reads on from there once it is complete."""

    def __init__(self, path: str, reason: str, offset: int, *, stored: bool = False) -> None:
        self.offset = offset
        super().__init__(
            path,
            reason,
            "The lines before it were imported; a later run reads on after them once a whole object replaces it "
            "under the same key (one that starts with the same bytes). If it stays so, the object is damaged: "
            "upload it again, or leave it out."
            if stored
            else "The lines before it were imported; a later run imports the rest once the file is complete "
            "(logrotate may still be compressing it). If it stays so, the file is damaged: restore it, or leave it "
            "out.",
        )


class FormatError(ImportLogsError):
    """An unknown format name, a bad user regex, or a log no known format matches."""

    def __init__(self, message: str, *, path: str | None = None, tried: tuple[str, ...] = ()) -> None:
        self.path = path
        self.tried = tried
        super().__init__(message)


class AuthError(ImportLogsError):
    """The server refused the credentials, or the site cannot be used with them."""

    def __init__(self, message: str, *, url: str, status: int | None = None, excerpt: str = "") -> None:
        self.url = url
        self.status = status
        self.excerpt = excerpt
        super().__init__(message)


class ServerError(ImportLogsError):
    """The server cannot be reached or keeps failing after every retry."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        excerpt: str = "",
        attempts: int = 0,
        resent: int = 0,
    ) -> None:
        self.url = url
        self.status = status
        self.excerpt = excerpt
        self.attempts = attempts
        #: Attempts that may have reached the server and were followed by another one: extra copies it may hold.
        self.resent = resent
        super().__init__(message)


class RejectedError(ServerError):
    """The server answered that a request is wrong (HTTP 400 and the like): retrying cannot help."""

    def __init__(self, message: str, *, url: str, status: int, excerpt: str, path: str = "", lineno: int = 0) -> None:
        self.path = path
        self.lineno = lineno
        super().__init__(message, url=url, status=status, excerpt=excerpt, attempts=1)


class OutputClosed(ImportLogsError):
    """--save-requests=-: whoever reads standard output closed it (``| head``). The run ends quietly, as a Unix
    tool ends on SIGPIPE; the requests not written are not marked as imported."""


class WorkerError(ImportLogsError):
    """A worker process died or failed; the import stops rather than lose its lines."""


class StateFileError(ImportLogsError):
    """The state file cannot be read, created or written (permissions, a full disk, a read-only file system), or
    holds something else: a damaged value (named with its field), a newer version, another program's JSON."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class StateLockedError(ImportLogsError):
    """Another import holds the state file of this destination."""


class Interrupted(KeyboardInterrupt):
    """The import was asked to stop (Ctrl-C, SIGTERM). Raised by the core at a safe point, never by a signal
    handler: an exception raised at an arbitrary point can leave a lock taken (a queue's, the ledger's) and
    hang the shutdown."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
