"""One forecast of a batch, as the CPU executor runs it: plain data in, an outcome out.

A metric that cannot be forecast (too little history, …) becomes part of its outcome instead of
an exception, so one bad metric does not stop a batch. Nothing heavy is imported at module
level, so a spawned executor worker pins its BLAS threads before numpy loads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
