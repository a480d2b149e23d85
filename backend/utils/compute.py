"""The one CPU executor: a pool of worker processes for CPU-heavy work (forecasts, solvers,
statistics, causal inference), in the API and in job workers alike.

statsmodels, DoWhy and PuLP hold the GIL for long stretches; in a thread they would stall
every other request (or a job worker's heartbeats and progress). A process keeps the event
loop free. One pool per process (``app.state.compute_pool`` in the API, ``JobRun.compute`` in a
job worker), sized by ``COMPUTE_WORKERS``, bounds CPU use across features; workers are spawned
(not forked from a process running an event loop and threads), pinned to one BLAS thread each,
and replaced if one dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from typing import Any, TypeVar

from backend.services.errors import Unavailable

T = TypeVar("T")

_SINGLE_THREAD_ENV = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# How often a caller waiting on a reporting function looks for its progress messages.
PROGRESS_POLL_SECONDS = 0.2

Report = Callable[[float, str], None]
"""What CPU code calls, in its worker process, to say how far it is: (fraction done, message)."""


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


@dataclass(frozen=True)
class _QueueReport:
    """A picklable ``Report`` that sends each message to the caller's process through a manager queue."""

    channel: Any  # a SyncManager Queue proxy

    def __call__(self, fraction: float, message: str) -> None:
        self.channel.put((fraction, message))


def _call_reporting(function: Callable[..., T], channel: Any, args: tuple[Any, ...]) -> T:
    return function(*args, _QueueReport(channel))


class ComputePool:
    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._executor = spawned_executor(max_workers)
        self._manager: SyncManager | None = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker process; arguments and result must pickle."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except BrokenProcessPool as error:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = spawned_executor(self.max_workers)
            raise Unavailable(
                "A compute worker stopped unexpectedly; try again",
                context={"reason": "compute_worker_crashed"},
            ) from error

    async def run_reporting(
        self,
        function: Callable[..., T],
        *args: Any,
        progress: Callable[[float, str], Awaitable[None]],
    ) -> T:
        """``function(*args, report)`` in a worker process, where ``report(fraction, message)`` reaches
        ``progress`` here (the latest message each poll, so a chatty function cannot flood the caller)."""
        channel = await asyncio.to_thread(self._progress_channel)
        done: asyncio.Future[T] = asyncio.ensure_future(self.run(_call_reporting, function, channel, args))
        try:
            while True:
                finished, _ = await asyncio.wait({done}, timeout=PROGRESS_POLL_SECONDS)
                latest = await asyncio.to_thread(_drain, channel)
                if latest is not None:
                    await progress(*latest)
                if finished:
                    return done.result()
        finally:
            if not done.done():
                done.cancel()

    def _progress_channel(self) -> Any:
        # One manager process for the pool's lifetime, started on first use (the API never needs it).
        if self._manager is None:
            self._manager = multiprocessing.get_context("spawn").Manager()
        return self._manager.Queue()

    def shutdown(self, *, interrupt: bool = False) -> None:
        """Stop the workers once their running calls end; with ``interrupt``, end those calls
        too (terminate the workers) instead of waiting for them."""
        if interrupt:
            # ProcessPoolExecutor has no public way to stop running calls before Python 3.14
            # (terminate_workers); its workers are in _processes.
            for process in list(getattr(self._executor, "_processes", {}).values()):
                process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._manager is not None:
            self._manager.shutdown()


def _drain(channel: Any) -> tuple[float, str] | None:
    latest: tuple[float, str] | None = None
    with contextlib.suppress(queue.Empty):
        while True:
            latest = channel.get_nowait()
    return latest
