"""Forecaster tasks: one forecast of one metric, or a batch that fans out into one job per metric.

Each forecast reads in a tenant unit of work, computes in the worker's CPU executor, and writes
in another. A batch queues one ``forecaster.run`` child job per metric (``workload.fan_out``), so
every worker process on every host takes a share of it; the batch's job reports the share of its
metrics done and completes with the last of them, listing each metric's forecast or the reason it
could not be forecast (a metric that fails does not stop the others).
"""

from __future__ import annotations

from typing import Any

from backend.services.errors import DyocenseError
from backend.services.forecaster import service
from backend.services.forecaster.types import BatchForecast
from backend.services.queue import FannedOut, JobFailed, JobRun, Task
from backend.services.workload import fan_out
from backend.utils.prometheus import FORECASTS


async def forecast_in_background(run: JobRun, spec: service.ForecastSpec) -> dict[str, Any]:
    await run.progress(0.05, f"forecasting {spec.metric}")
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            history = await service.load_history(session, spec)
        result = await run.compute.run(service.compute, history)
        async with run.database.tenant_session(run.tenant_id) as session:
            forecast = await service.store(session, history, result)
            forecast_id = forecast.id
    except DyocenseError as exc:
        FORECASTS.labels(outcome="failure").inc()
        raise JobFailed.of(exc) from exc
    made = BatchForecast(metric=spec.metric, forecast_id=forecast_id, model=result.model)
    return {**made.model_dump(mode="json"), "forecast_url": f"/api/v1/forecasts/{forecast_id}"}


async def forecast_batch(run: JobRun, batch: service.ForecastBatch) -> FannedOut:
    """One child job per metric; the batch completes when the last one has (``service.summarize_batch``)."""
    return await fan_out(run, service.FORECAST_JOB, batch.specs())


TASKS: tuple[Task[Any], ...] = (
    Task(service.FORECAST_JOB, forecast_in_background),
    Task(service.BATCH_JOB, forecast_batch),
)
