"""Forecaster jobs: one large forecast, or a batch over many metrics, run by a worker.

Each forecast reads in a tenant unit of work, computes in a thread (the worker is a
process of its own; its event loop keeps heartbeats and progress going), and writes in
another. In a batch, a metric that cannot be forecast (too little history, …) is reported
in the result and does not stop the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.jobs import JobFailed, JobRun, job
from backend.services.errors import DyocenseError
from backend.services.forecaster import service


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
    template = service.ForecastSpec.from_payload(payload)
    metrics: list[str] = payload["metrics"]
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for index, metric in enumerate(metrics):
        await run.progress(int(100 * index / len(metrics)), f"forecasting {metric}")
        spec = service.ForecastSpec.from_payload({**template.as_payload(), "metric": metric})
        try:
            done.append(await _forecast_one(run, spec))
        except DyocenseError as exc:
            service.FORECASTS.labels(outcome="failure").inc()
            failed.append({"metric": metric, "code": exc.code, "message": exc.message})
    return {"forecasts": done, "failed": failed}
