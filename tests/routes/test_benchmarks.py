"""External benchmarks: CSV import with provenance (a worker-role job), listing, comparison."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.services.benchmarks.compare import last_complete_period, position
from backend.services.benchmarks.service import IMPORT_JOB, IMPORT_QUEUE, BenchmarkImport
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import create_tenant, invite_and_activate
from tests.jobs.support import queue_job, run_pending_jobs

# Test fixtures, not reference data: the industry name is unique per test run.
HEADER = "industry,metric,period,p25,p50,p75,source,source_url,year\n"


def _csv(industry: str, *rows: str) -> bytes:
    return (HEADER + "".join(f"{industry},{row}\n" for row in rows)).encode()


async def _import(api: httpx.AsyncClient, headers: dict[str, str], content: bytes) -> httpx.Response:
    return await api.post(
        "/api/v1/benchmarks/import", headers=headers, files={"file": ("b.csv", content, "text/csv")}
    )


async def _import_and_run(
    api: httpx.AsyncClient, headers: dict[str, str], content: bytes, settings: Settings, urls: DatabaseUrls
) -> dict[str, Any]:
    """Upload, run the queued import as the worker does, and return the finished job."""
    response = await _import(api, headers, content)
    assert response.status_code == 202, response.text
    await run_pending_jobs(settings, urls, [IMPORT_QUEUE])
    job: dict[str, Any] = (await api.get(response.json()["status_url"], headers=headers)).json()
    return job


async def test_import_requires_provenance_on_every_row_and_is_all_or_nothing(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    industry = f"test-industry-{uuid.uuid4().hex[:8]}"
    content = _csv(
        industry,
        "orders,month,10,20,30,Example Survey,https://example.org/survey,2025",
        "revenue,month,100,200,300,,https://example.org/survey,2025",
    )
    response = await _import(client, tenant.headers, content)
    assert response.status_code == 422
    (problem,) = response.json()["error"]["details"]["problems"]
    assert (problem["row"], problem["message"]) == (3, "source is required")
    listed = (
        await client.get("/api/v1/benchmarks", params={"industry": industry}, headers=tenant.headers)
    ).json()
    assert listed["total"] == 0


async def test_admin_import_then_list_and_reimport_replaces_rows(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    industry = f"test-industry-{uuid.uuid4().hex[:8]}"
    row = "orders,month,10,20,30,Example Survey,https://example.org/survey,2025"
    for _ in range(2):
        job = await _import_and_run(client, tenant.headers, _csv(industry, row), settings, database_urls)
        assert (job["status"], job["result"]) == ("succeeded", {"imported": 1})
    listed = (
        await client.get("/api/v1/benchmarks", params={"industry": industry}, headers=tenant.headers)
    ).json()
    assert listed["total"] == 1
    item = listed["items"][0]
    assert (item["source"], item["source_url"], item["p50"]) == (
        "Example Survey",
        "https://example.org/survey",
        20.0,
    )
    _, analyst = await invite_and_activate(client, tenant, role="analyst")
    assert (await _import(client, analyst, _csv(industry, row))).status_code == 403


async def test_compare_places_the_tenants_own_value_and_ignores_other_tenants(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant, other = await create_tenant(client), await create_tenant(client)
    industry = f"test-industry-{uuid.uuid4().hex[:8]}"
    await _import_and_run(
        client,
        tenant.headers,
        _csv(industry, "orders,month,10,20,30,Example Survey,https://example.org/s,2025"),
        settings,
        database_urls,
    )
    start, _ = last_complete_period("month", datetime.now(UTC), ZoneInfo("UTC"))
    for ctx, value in ((tenant, 25.0), (other, 1000.0)):
        ingest = await client.post(
            "/api/v1/metrics",
            headers=ctx.headers,
            json={"points": [{"metric": "orders", "ts": start.isoformat(), "value": value}]},
        )
        assert ingest.status_code in (200, 201), ingest.text
    body = (
        await client.get(
            "/api/v1/benchmarks/compare",
            params={"metric": "orders", "industry": industry},
            headers=tenant.headers,
        )
    ).json()
    comparison = body["comparisons"][0]
    assert (comparison["tenant_value"], comparison["position"], comparison["estimated_percentile"]) == (
        25.0,
        "p50_p75",
        62.5,
    )
    missing = await client.get(
        "/api/v1/benchmarks/compare", params={"metric": "churn", "industry": industry}, headers=tenant.headers
    )
    assert missing.status_code == 404


def test_position_bands_and_interpolation() -> None:
    assert position(5, 10, 20, 30) == ("below_p25", None)
    assert position(15, 10, 20, 30) == ("p25_p50", 37.5)
    assert position(31, 10, 20, 30) == ("above_p75", None)
    assert position(20, None, 20, None) == ("at_p50", 50.0)


async def test_worker_refuses_an_import_queued_for_a_tenant_outside_the_operator_list(
    client: httpx.AsyncClient, database: Database, settings: Settings, database_urls: DatabaseUrls
) -> None:
    # Queued below the API (as a compromised or buggy app-role caller could), for a tenant
    # that BENCHMARK_ADMIN_TENANTS does not list: the worker checks again and writes nothing.
    operator, intruder = await create_tenant(client), await create_tenant(client)
    industry = f"test-industry-{uuid.uuid4().hex[:8]}"
    row = {
        "industry": industry,
        "metric": "orders",
        "period": "month",
        "p25": 1.0,
        "p50": 2.0,
        "p75": 3.0,
        "source": "Example Survey",
        "source_url": "https://example.org/s",
        "year": 2025,
    }
    job_id = await queue_job(database, intruder.tenant_id, IMPORT_JOB, BenchmarkImport(rows=[row]))
    connectors = settings.connectors.model_copy(update={"benchmark_admin_tenants": [str(operator.tenant_id)]})
    await run_pending_jobs(
        settings.model_copy(update={"connectors": connectors}), database_urls, [IMPORT_QUEUE]
    )
    job = (await client.get(f"/api/v1/jobs/{job_id}", headers=intruder.headers)).json()
    assert (job["status"], job["error"]["code"]) == ("failed", "forbidden")
    listed = (
        await client.get("/api/v1/benchmarks", params={"industry": industry}, headers=intruder.headers)
    ).json()
    assert listed["total"] == 0


async def test_app_role_cannot_write_benchmarks_through_the_import_function(app_engine: AsyncEngine) -> None:
    async with app_engine.connect() as connection:
        allowed = await connection.scalar(
            text("select has_function_privilege('import_external_benchmarks(jsonb)', 'execute')")
        )
    assert allowed is False
