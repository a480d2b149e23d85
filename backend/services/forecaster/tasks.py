"""Forecaster tasks: one large forecast, or a batch over many metrics, run by a job worker.

Each forecast reads in a tenant unit of work, computes in the worker's CPU executor, and writes
in another. A batch submits every metric to the executor at once (its workers fit them in
parallel) and reports progress as each one finishes; a metric that cannot be forecast (too
little history, …) is reported in the result and does not stop the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.services.errors import DyocenseError
from backend.services.forecaster import service
from backend.services.forecaster.batch import ForecastJob, JobOutcome, run_job
from backend.services.queue import JobFailed, JobRun, Task
from backend.utils.prometheus import FORECASTS

# Share of a batch's progress before the fits start (histories read) and after they end (stored).
_READ_SHARE = 0.1
_FIT_SHARE = 0.85


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
    return {
        "metric": spec.metric,
        "forecast_id": str(forecast_id),
        "model": result.model,
        "forecast_url": f"/api/v1/forecasts/{forecast_id}",
    }


async def _read_batch(
    run: JobRun, batch: service.ForecastBatch
) -> tuple[list[service.History], list[ForecastJob], list[dict[str, Any]]]:
    histories: list[service.History] = []
    jobs: list[ForecastJob] = []
    failed: list[dict[str, Any]] = []
    async with run.database.tenant_session(run.tenant_id) as session:
        for spec in batch.specs():
            try:
                history = await service.load_history(session, spec)
                series = service.series_for(history)
            except DyocenseError as exc:
                failed.append({"metric": spec.metric, "code": exc.code, "message": exc.message})
                continue
            histories.append(history)
            jobs.append(
                ForecastJob(
                    horizon=spec.horizon, series=series, model=spec.model, levels=spec.levels, key=spec.metric
                )
            )
    return histories, jobs, failed


async def _fit_all(run: JobRun, jobs: list[ForecastJob]) -> list[JobOutcome]:
    """Every fit in the executor at once; progress after each one, outcomes in input order."""

    async def fit(index: int, job: ForecastJob) -> tuple[int, JobOutcome]:
        return index, await run.compute.run(run_job, job)

    outcomes: list[JobOutcome | None] = [None] * len(jobs)
    pending = [asyncio.create_task(fit(index, job)) for index, job in enumerate(jobs)]
    try:
        for finished, next_done in enumerate(asyncio.as_completed(pending), start=1):
            index, outcome = await next_done
            outcomes[index] = outcome
            await run.progress(
                _READ_SHARE + _FIT_SHARE * finished / len(jobs),
                f"{finished} of {len(jobs)} metric(s) fitted (last: {outcome.key})",
            )
    finally:
        for task in pending:  # a crashed executor worker fails the batch: stop waiting on the rest
            task.cancel()
    return [outcome for outcome in outcomes if outcome is not None]


async def forecast_batch(run: JobRun, batch: service.ForecastBatch) -> dict[str, Any]:
    """Read every metric's history, fit them in the executor (in parallel), store each."""
    histories, jobs, failed = await _read_batch(run, batch)
    await run.progress(_READ_SHARE, f"fitting {len(jobs)} metric(s)")
    outcomes = await _fit_all(run, jobs)
    done: list[dict[str, Any]] = []
    async with run.database.tenant_session(run.tenant_id) as session:
        for history, outcome in zip(histories, outcomes, strict=True):
            if outcome.result is None:
                failed.append(
                    {"metric": outcome.key, "code": outcome.error_code, "message": outcome.error_message}
                )
                continue
            forecast = await service.store(session, history, outcome.result)
            done.append(
                {"metric": history.spec.metric, "forecast_id": str(forecast.id), "model": forecast.model}
            )
    for _ in failed:
        FORECASTS.labels(outcome="failure").inc()
    return {"forecasts": done, "failed": failed}


TASKS: tuple[Task[Any], ...] = (
    Task(service.FORECAST_JOB, forecast_in_background),
    Task(service.BATCH_JOB, forecast_batch),
)
