"""One pool of worker processes for CPU-heavy work (solvers, statistics, causal inference).

statsmodels, DoWhy and PuLP hold the GIL for long stretches; in a thread they would stall
every other request. A process keeps the event loop free. One pool per app
(``app.state.compute_pool``) bounds CPU use across features; workers are spawned (not
forked from a process running an event loop and threads), pinned to one BLAS thread
each, and replaced if one dies.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from backend.services.errors import Unavailable

T = TypeVar("T")

COMPUTE_WORKERS = 2
_SINGLE_THREAD_ENV = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def pin_native_threads() -> None:
    """Worker initializer: one BLAS/OpenMP thread per worker (the workers are the parallelism)."""
    for name in _SINGLE_THREAD_ENV:
        os.environ[name] = "1"
    # The worker may have imported numpy while unpickling its task, so the variables above can
    # come too late for its BLAS; threadpoolctl limits the pools already loaded.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def spawned_executor(max_workers: int) -> ProcessPoolExecutor:
    """Spawned (not forked from a process running an event loop and threads), thread-pinned workers."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=pin_native_threads,
    )


class ComputePool:
    def __init__(self, max_workers: int = COMPUTE_WORKERS) -> None:
        self.max_workers = max_workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return spawned_executor(self.max_workers)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker process; arguments and result must pickle."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except BrokenProcessPool as error:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            raise Unavailable(
                "A compute worker stopped unexpectedly; try again",
                details={"reason": "compute_worker_crashed"},
            ) from error

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
