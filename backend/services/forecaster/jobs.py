"""Forecaster jobs: one large forecast, or a batch over many metrics, run by a worker.

Each forecast reads in a tenant unit of work, computes in a thread (the worker is a
process of its own; its event loop keeps heartbeats and progress going), and writes in
another. A batch fits its metrics in parallel across worker processes; a metric that cannot be
forecast (too little history, …) is reported in the result and does not stop the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.jobs import JobFailed, JobRun, job
from backend.services.errors import DyocenseError
from backend.services.forecaster import service
from backend.services.forecaster.pool import ForecastJob, run_batch

# Processes a batch fits in parallel (spawned, one BLAS thread each), as the app's compute pool.
BATCH_WORKERS = 2


async def _forecast_one(run: JobRun, spec: service.ForecastSpec) -> dict[str, Any]:
    async with run.database.tenant_session(run.tenant_id) as session:
        history = await service.load_history(session, spec)
    result = await asyncio.to_thread(service.compute, history)
    async with run.database.tenant_session(run.tenant_id) as session:
        forecast = await service.store(session, history, result)
        forecast_id = forecast.id
    return {"metric": spec.metric, "forecast_id": str(forecast_id), "model": result.model}


@job(service.FORECAST_JOB, queue=service.FORECAST_QUEUE, max_attempts=2)
async def forecast_in_background(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    spec = service.ForecastSpec.from_payload(payload)
    await run.progress(5, f"forecasting {spec.metric}")
    try:
        outcome = await _forecast_one(run, spec)
    except DyocenseError as exc:
        service.FORECASTS.labels(outcome="failure").inc()
        raise JobFailed(exc.message, code=exc.code, details=exc.details) from exc
    return {**outcome, "forecast_url": f"/api/v1/forecasts/{outcome['forecast_id']}"}


@job(service.BATCH_JOB, queue=service.FORECAST_QUEUE, max_attempts=1)
async def forecast_batch(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    """Read every metric's history, fit them in parallel across worker processes, store each."""
    template = service.ForecastSpec.from_payload(payload)
    histories: list[service.History] = []
    failed: list[dict[str, Any]] = []
    jobs: list[ForecastJob] = []
    async with run.database.tenant_session(run.tenant_id) as session:
        for metric in payload["metrics"]:
            spec = service.ForecastSpec.from_payload({**template.as_payload(), "metric": metric})
            try:
                history = await service.load_history(session, spec)
                series = service.series_for(history)
            except DyocenseError as exc:
                failed.append({"metric": metric, "code": exc.code, "message": exc.message})
                continue
            histories.append(history)
            jobs.append(
                ForecastJob(
                    horizon=spec.horizon, series=series, model=spec.model, levels=spec.levels, key=metric
                )
            )
    await run.progress(10, f"fitting {len(jobs)} metric(s) in parallel")
    outcomes = await asyncio.to_thread(run_batch, jobs, BATCH_WORKERS) if jobs else []
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
        service.FORECASTS.labels(outcome="failure").inc()
    return {"forecasts": done, "failed": failed}
