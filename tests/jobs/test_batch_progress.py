"""A batch forecast fans out one job per metric: progress per metric, every metric in the result."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import httpx

from backend.config import Settings
from backend.services.forecaster.service import FORECAST_QUEUE
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import run_fast_retry_jobs


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


async def test_batch_forecast_runs_one_child_job_per_metric_and_a_bad_metric_fails_alone(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    for metric in ("revenue", "orders", "visits"):
        await _seed(client, tenant, metric, 36)
    await _seed(client, tenant, "returns", 2)  # too short to forecast: its job fails, the others stand

    queued = await client.post(
        "/api/v1/forecasts/batch", headers=tenant.headers, json={"horizon": 3, "frequency": "month"}
    )
    assert queued.status_code == 202, queued.text
    batch_id = queued.json()["job_id"]

    await run_fast_retry_jobs(settings, database_urls, FORECAST_QUEUE)

    batch = (await client.get(f"/api/v1/jobs/{batch_id}", headers=tenant.headers)).json()
    assert batch["status"] == "succeeded", batch
    assert batch["progress"] == 100 and batch["message"] == "4 of 4 series done"
    result = batch["result"]
    assert result["series"] == 4
    assert [made["metric"] for made in result["forecasts"]] == ["orders", "revenue", "visits"]
    assert [(failure["metric"], failure["code"]) for failure in result["failed"]] == [
        ("returns", "validation_failed")
    ]
    assert "observations" in result["failed"][0]["message"]

    children = await client.get(
        "/api/v1/jobs", headers=tenant.headers, params={"parent_id": batch_id, "limit": 50}
    )
    assert children.status_code == 200, children.text
    rows = children.json()["items"]
    assert len(rows) == 4 and {row["kind"] for row in rows} == {"forecaster.run"}
    by_metric = {row["result"]["metric"]: row for row in rows if row["result"]}
    assert sorted(by_metric) == ["orders", "revenue", "visits"]
    assert [row["error"]["code"] for row in rows if row["status"] == "failed"] == ["validation_failed"]
    for made in result["forecasts"]:
        assert by_metric[made["metric"]]["result"]["forecast_id"] == made["forecast_id"]
        stored = await client.get(f"/api/v1/forecasts/{made['forecast_id']}", headers=tenant.headers)
        assert stored.status_code == 200 and len(stored.json()["points"]) == 3
