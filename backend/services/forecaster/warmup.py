"""Warm the forecaster at start-up, in the background, so no request pays for it.

statsforecast's first import takes seconds (fugue, triad, pyarrow) and each model's first
call initialises its native code. The API and the job worker warm every worker of their CPU
executor. Neither blocks start-up; the API's readiness reports it (``forecaster_warm``), and a
failed warm-up is only logged: the first forecast then pays the cost. Nor does it hold up
shutdown: a warm-up still running then is cut short.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from backend.utils.compute import ComputePool
from backend.utils.warmup import Warmup

logger = structlog.get_logger(__name__)


def warm_this_process() -> None:
    """Import statsforecast and run each automatic model once (in whatever process calls it)."""
    from backend.services.forecaster.models import warmup

    warmup()


async def _warm(pool: ComputePool, warmup: Warmup) -> None:
    started = time.perf_counter()
    try:
        # One task per worker: an idle pool spawns a process for each pending task.
        await asyncio.gather(*(pool.run(warm_this_process) for _ in range(pool.max_workers)))
    except Exception as error:  # never let a warm-up failure reach start-up or shutdown
        warmup.failed(error)
        logger.warning("forecaster_warmup_failed", error=type(error).__name__)
        return
    seconds = time.perf_counter() - started
    warmup.finished(f"statsforecast loaded in {pool.max_workers} compute worker(s)", seconds)
    logger.info("forecaster_warm", pool_workers=pool.max_workers, seconds=round(seconds, 2))


def start_warmup(pool: ComputePool) -> Warmup:
    """Warm the workers of ``pool`` (the process's CPU executor) in a background task; keep the
    returned object (it holds the task, which is cancelled with the event loop otherwise)."""
    warmup = Warmup(detail="loading statsforecast in the compute workers")
    warmup.task = asyncio.create_task(_warm(pool, warmup), name="forecaster-warmup")
    return warmup


async def stop_with_warmup(warmup: asyncio.Future[Any] | None, pool: ComputePool) -> None:
    """Shut ``pool`` down at the end of the process: a warm-up still running (a first start
    compiles native code for a minute or more on a busy machine) is interrupted, not waited
    for; numba writes its on-disk cache by atomic replace, so nothing half-written stays."""
    interrupt = warmup is not None and not warmup.done()
    if warmup is not None:
        warmup.cancel()
    await asyncio.to_thread(pool.shutdown, interrupt=interrupt)
