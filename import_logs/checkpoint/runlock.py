"""The lock that keeps two runs of one state file apart, released by the kernel when the process ends, however
it ends."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import sys
import time
from collections.abc import Callable

from import_logs.checkpoint.files import peer_pid, private_dirs
from import_logs.errors import StateFileError, StateLockedError


class RunLock:
    """The lock of the state file ``path``: waited for up to ``timeout`` seconds (``on_wait`` told once)."""

    def __init__(self, path: str, timeout: float, on_wait: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.on_wait = on_wait
        self._lock_fd: int | None = None
        self._guard: socket.socket | None = None

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Two locks, both released by the kernel when the process ends, however it ends: a flock on
        ``<state>.lock``, and (Linux) an abstract socket named after the state file, which no one can delete;
        so a run that deletes the lock file it takes for stale still finds the state in use."""
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            private_dirs(directory)
            fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateFileError(
                f"state file {self.path}: cannot be created ({exc.strerror or exc}). Let this user write "
                f"{directory}, or choose another place with --state-file, or a directory with IMPORT_LOGS_STATE_DIR "
                "(under systemd: StateDirectory=import-logs).",
                path=self.path,
            ) from None
        deadline = time.monotonic() + self.timeout
        holder: str | None = None
        while True:
            held = self._try_lock(fd)
            if held is None:
                break
            if holder is None:  # asked once: each probe of the socket stays in its backlog
                holder = peer_pid(held) if held else os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                if self.on_wait is not None and self.timeout > 0:
                    self.on_wait(
                        f"another import (pid {holder}) is using the state file {self.path}; waiting up to "
                        f"{self.timeout:g} s (--lock-timeout) for it to finish"
                    )
            if time.monotonic() >= deadline:
                os.close(fd)
                self._release_guard()
                raise StateLockedError(
                    f"another import (pid {holder}) is using the state file {self.path}; waited "
                    f"{self.timeout:g} s. Let it finish, or raise --lock-timeout to wait longer."
                ) from None
            sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _try_lock(self, fd: int) -> str | None:
        """Take both locks (None), or say which one is held: "" for the file, else the socket's name."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            return ""
        if self._guard is not None or not sys.platform.startswith("linux"):
            return None
        name = "\0import-logs/" + hashlib.sha256(os.path.realpath(self.path).encode()).hexdigest()
        guard = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            guard.bind(name)
            guard.listen(64)  # never accepted: a waiting run connects once, to learn the holder's pid
        except OSError as exc:
            guard.close()
            if exc.errno != errno.EADDRINUSE:
                return None  # no abstract sockets here: the file lock alone, as on other systems
            return name
        self._guard = guard
        return None

    def _release_guard(self) -> None:
        if self._guard is not None:
            self._guard.close()
            self._guard = None

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._release_guard()
