"""The order in which the jobs of several logs are made, so that their hits can be sent in one time order.

The files of one log (its rotated copies, oldest first) do not overlap: they are read one after the other. The
logs of several servers or virtual hosts do: they are read side by side, at most :data:`OPEN_AT_ONCE` at once,
each next job taken from the log the time merge waits for (:mod:`~import_logs.pipeline.timemerge`), so that
what the merge holds stays within a block or two of each log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TypeVar

from import_logs.sources.files import Source
from import_logs.sources.rotation import rotation

J = TypeVar("J")

#: Logs read side by side at most (each holds an open file and, in the time merge, up to its window of hits).
OPEN_AT_ONCE = 16


def side_by_side(
    sources: list[Source], jobs_of: Callable[[Source], Iterator[J]], waiting_for: Callable[[], int | None], at_once: int
) -> Iterator[J]:
    """The jobs of ``sources``: each log's files one after the other, the logs side by side; the next job from
    the source ``waiting_for()`` names when it is being read, else from the first source being read."""
    chains: dict[str, deque[Source]] = {}
    for source in sources:
        chains.setdefault(rotation(source.name)[0] if source.path else f"<{source.index}>", deque()).append(source)
    waiting = deque(chains.values())
    reading: dict[int, tuple[deque[Source], Iterator[J]]] = {}

    def start(chain: deque[Source]) -> None:
        source = chain.popleft()
        reading[source.index] = (chain, jobs_of(source))

    while waiting or reading:
        while waiting and len(reading) < at_once:
            start(waiting.popleft())
        wanted = waiting_for()
        index = wanted if wanted in reading else min(reading)
        chain, jobs = reading[index]
        job = next(jobs, None)
        if job is None:
            del reading[index]
            if chain:
                start(chain)
            continue
        yield job
