"""A batch forecast reports progress per metric finished in the CPU executor, not 10% then 100%."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime

import httpx
from fastapi import FastAPI

from backend.config import Settings
from backend.services.forecaster.service import ForecastBatch, ForecastSpec
from backend.services.forecaster.tasks import forecast_batch
from backend.services.queue import JobRun, JobRuntime
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import shared_compute


def _month_start(months_back: int) -> date:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


async def _seed(client: httpx.AsyncClient, tenant: TenantContext, metric: str, months: int) -> None:
    points = [
        {
            "metric": metric,
            "ts": f"{_month_start(months - i).isoformat()}T00:00:00Z",
            "value": 1000 + 8 * i + 150 * math.sin(2 * math.pi * i / 12),
        }
        for i in range(months)
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


async def test_batch_forecast_reports_progress_after_each_metric_is_fitted(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    for metric in ("revenue", "orders", "visits"):
        await _seed(client, tenant, metric, 36)
    await _seed(client, tenant, "returns", 3)  # too short to forecast: fitted and reported as failed
    reports: list[tuple[float, str]] = []

    async def record(fraction: float, message: str) -> None:
        reports.append((fraction, message))

    runtime = JobRuntime(settings, app.state.database, shared_compute())
    run = JobRun("forecaster.batch", tenant.tenant_id, uuid.uuid4(), 1, 1, runtime, record)
    batch = ForecastBatch(
        template=ForecastSpec(metric="batch", horizon=3, frequency="month"),
        metrics=["revenue", "orders", "visits", "returns"],
    )

    result = await forecast_batch(run, batch)

    assert sorted(f["metric"] for f in result["forecasts"]) == ["orders", "revenue", "visits"]
    assert [f["metric"] for f in result["failed"]] == ["returns"]
    assert reports[0] == (0.1, "fitting 4 metric(s)")
    per_metric = reports[1:]
    assert [message.split(" (")[0] for _, message in per_metric] == [
        f"{n} of 4 metric(s) fitted" for n in (1, 2, 3, 4)
    ]
    fractions = [fraction for fraction, _ in per_metric]
    assert fractions == sorted(fractions) and len(set(fractions)) == 4
    assert fractions[0] > 0.1 and fractions[-1] == 0.95
    finished = {message.split("(last: ")[1].rstrip(")") for _, message in per_metric}
    assert finished == {"revenue", "orders", "visits", "returns"}
