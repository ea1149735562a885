"""Worker processes end with the importer, however it ends (a kill -9 too).

Multiprocessing's forkserver and the workers it forks outlive a killed parent: they kept the caller's stdout
open, so ``import-logs ... | cat`` never ended. On Linux each of them asks the kernel for SIGKILL when its
parent dies (``PR_SET_PDEATHSIG``): the forkserver when the importer dies (this module is in its preload
list, see :func:`import_logs.pipeline.mp_context`), a worker when the forkserver dies (``init_worker``).
Elsewhere this does nothing. A process whose parent ended before it asked (its parent is then init, pid 1, or
a subreaper) ends at once; with a subreaper that race is not caught.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel send this process SIGKILL when its parent ends (Linux; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent or parent == 1:  # the parent ended before the request took effect: end now
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ != "__main__":  # imported by the forkserver's preload
    die_with_parent()
