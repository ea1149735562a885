"""The worker pool: started early, fed a bounded window of blocks, results read back in the order of the jobs,
and stopped without waiting for blocks nobody will read."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from import_logs.errors import WorkerError
from import_logs.pipeline.worker import BlockResult, WorkContext, init_worker, process_block
from import_logs.sources.files import Block
from import_logs.sources.marks import Control, Tick

Job = tuple[WorkContext, Block]


def mp_context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one (no fork of a threaded process), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # '__main__' is multiprocessing's default (workers start with the importer's modules imported); ours makes
    # the forkserver end with the importer.
    context.set_forkserver_preload(["__main__", "import_logs.pipeline.orphans"])
    return context


def start_workers(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, started now (each gets a no-op), so that they boot in the background."""
    executor = ProcessPoolExecutor(workers, mp_context=mp_context(), initializer=init_worker)
    for _ in range(workers):
        executor.submit(os.getpid)
    return executor


def results(
    jobs: Iterator[Job | Control], executor: Executor | None, workers: int, window: deque[Future[BlockResult] | Control]
) -> Iterator[BlockResult | Control]:
    """Results in the order of the jobs; at most two blocks per worker under way (bounded memory). Without an
    executor the blocks are processed here, one by one. A :class:`Control` comes out after every earlier result:
    a :class:`Tick` at once (the merge catches up), any other mark in its place among the results, so that the
    end of a source does not hold the workers back."""
    if executor is None:
        for job in jobs:
            yield job if isinstance(job, Control) else process_block(*job)
        return
    marks = 0  # in the window
    try:
        for job in jobs:
            if isinstance(job, Control):
                if isinstance(job, Tick) or not window:
                    while window:
                        yield _out(window.popleft())
                    marks = 0
                    yield job
                else:
                    window.append(job)
                    marks += 1
                continue
            ctx, block = job
            window.append(executor.submit(process_block, ctx, block))
            while len(window) - marks >= 2 * workers:
                item = window.popleft()
                marks -= isinstance(item, Control)
                yield _out(item)
        while window:
            yield _out(window.popleft())
    except BrokenProcessPool:  # from result(), or from submit() once the pool knows
        raise WorkerError(
            "a worker process died (killed, or out of memory) while parsing. Nothing after the last "
            "accepted batch was lost: run the import again."
        ) from None


def _out(item: Future[BlockResult] | Control) -> BlockResult | Control:
    return item if isinstance(item, Control) else item.result()


def shutdown(executor: Executor, window: deque[Future[BlockResult] | Control]) -> None:
    """Stop the workers without waiting for blocks nobody will read (Ctrl-C, an error): the pool's own
    processes only, not every child of the process (the executor keeps them in ``_processes`` up to 3.13)."""
    pool = list((getattr(executor, "_processes", None) or {}).values())
    for future in window:
        if isinstance(future, Future):
            future.cancel()
    executor.shutdown(wait=not window, cancel_futures=True)
    if window:
        for process in pool:
            process.terminate()
