"""The file system under the state: its directories (private), a directory's fsync, the holder of its lock."""

from __future__ import annotations

import contextlib
import os
import socket
import struct


def private_dirs(directory: str) -> None:
    """Create what is missing of ``directory``, each part for its owner only (0700, whatever the umask): the
    state names files, hosts and sites."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def peer_pid(name: str) -> str:
    """The pid of the process listening on an abstract socket (SO_PEERCRED), or "?"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(name)
            pid, _, _ = struct.unpack("3i", probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        except OSError:
            return "?"
    return str(pid)


def fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
