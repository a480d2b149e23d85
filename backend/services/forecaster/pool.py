"""Run forecasts in a process pool whose workers use one BLAS/OpenMP thread each
(``backend.utils.compute.spawned_executor``, the same workers as the app's compute pool).

Model fits are small numerical problems; left unpinned, every worker's
BLAS spawns a thread per core and they oversubscribe the machine and run slower.
Nothing heavy is imported at module level so a spawned worker can pin its threads
before numpy loads; ``threadpoolctl`` covers libraries that are already loaded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from backend.utils.compute import spawned_executor

if TYPE_CHECKING:
    from backend.services.forecaster.engine import ForecastResult
    from backend.services.forecaster.series import RegularSeries


@dataclass(frozen=True)
class ForecastJob:
    """One forecast to run: either a built ``series`` or bare ``values`` with a season length."""

    horizon: int
    values: Sequence[float] = ()
    season_length: int = 1
    series: RegularSeries | None = None
    model: str = "auto"
    levels: tuple[float, ...] = (80, 95)
    max_origins: int | None = None
    key: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    """A job's result, or the client-facing error it raised, and the seconds it took."""

    key: str | None
    result: ForecastResult | None
    seconds: float
    error_code: str | None = None
    error_message: str | None = None
    error_details: dict[str, Any] = field(default_factory=dict)


def run_job(job: ForecastJob) -> JobOutcome:
    """Run one job in this process; a ``DyocenseError`` becomes part of the outcome."""
    from backend.services.errors import DyocenseError
    from backend.services.forecaster.engine import forecast_series, forecast_values

    started = time.perf_counter()
    try:
        if job.series is not None:
            result = forecast_series(
                job.series, job.horizon, model=job.model, levels=job.levels, max_origins=job.max_origins
            )
        else:
            result = forecast_values(
                job.values,
                job.horizon,
                job.season_length,
                model=job.model,
                levels=job.levels,
                max_origins=job.max_origins,
            )
    except DyocenseError as exc:
        return JobOutcome(job.key, None, time.perf_counter() - started, exc.code, exc.message, exc.details)
    return JobOutcome(job.key, result, time.perf_counter() - started)


class ForecastPool:
    """A ``ProcessPoolExecutor`` of spawned, thread-pinned workers running ``run_job``.

    Use one per application (created in the lifespan) or as a context manager in a job.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, (os.cpu_count() or 1))
        # spawn, not fork: forking a process that already holds BLAS threads can deadlock.
        self._executor = spawned_executor(self.workers)

    def submit(self, job: ForecastJob) -> Future[JobOutcome]:
        """Queue one job; await it with ``asyncio.wrap_future`` from async code."""
        return self._executor.submit(run_job, job)

    def run_batch(self, jobs: Iterable[ForecastJob]) -> list[JobOutcome]:
        """Run jobs in parallel across the workers; outcomes come back in input order."""
        return list(self._executor.map(run_job, jobs))

    def close(self) -> None:
        """Stop the workers after the queued jobs finish."""
        self._executor.shutdown(wait=True)

    def __enter__(self) -> ForecastPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def run_batch(jobs: Sequence[ForecastJob], workers: int | None = None) -> list[JobOutcome]:
    """Run a batch in a short-lived pool (in order); a pool of one worker stays in-process."""
    if workers == 1:
        return [run_job(job) for job in jobs]
    with ForecastPool(workers) as pool:
        return pool.run_batch(jobs)
