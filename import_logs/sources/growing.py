"""A stream that keeps growing (``--follow`` of standard input): its whole lines as they come."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from import_logs.sources.files import whole_lines


def growing_blocks(
    stream: BinaryIO, block_size: int, poll: float, stop: threading.Event, start: int = 0
) -> Iterator[tuple[int, bytes]]:
    """``stream_blocks`` of a stream that keeps growing (``--follow`` of standard input): whatever whole lines
    have come, as soon as they come, and at least every ``poll`` seconds an empty block (nothing new: time to
    send partial batches). Ends at the end of the stream or when ``stop`` is set."""
    return whole_lines(_arrivals(stream.fileno(), block_size, poll, stop), start)


def _arrivals(fd: int, block_size: int, poll: float, stop: threading.Event) -> Iterator[bytes]:
    """What comes on ``fd`` as it comes, and ``b""`` at least every ``poll`` seconds."""
    ticked = time.monotonic()
    while not stop.is_set():
        ready = select.select([fd], [], [], poll)[0]
        if time.monotonic() - ticked >= poll or not ready:
            ticked = time.monotonic()
            yield b""
        if ready:
            chunk = os.read(fd, block_size)
            if not chunk:
                return
            yield chunk
