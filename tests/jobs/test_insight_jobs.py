"""The insight run as a job: two workers at once store each insight once; the daily dispatcher
queues a run in each tenant's local morning; a failing connector becomes a data-health insight."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.models import ConnectorSync, DataSource, Insight
from backend.services.insights.service import InsightRun
from backend.services.insights.tasks import DAILY_LOCAL_HOUR, dispatch_daily_runs, due_tenants, run_insights
from backend.services.queue import JobRun, JobRuntime
from backend.utils.database import Database
from tests.factories import create_tenant, create_tenant_in_zone
from tests.jobs.support import shared_compute
from tests.routes.test_insights import _yesterday, seed_daily


async def _record(fraction: float, message: str) -> None:
    return None


def _job(settings: Settings, database: Database, tenant_id: uuid.UUID) -> JobRun:
    runtime = JobRuntime(settings, database, shared_compute())
    return JobRun("insights.run", tenant_id, uuid.uuid4(), 1, 3, runtime, _record)


async def test_two_workers_running_at_once_store_each_insight_once(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, planted={_yesterday(): 0.4})
    await client.post("/api/v1/insights/follows", headers=tenant.headers, json={"metric": "revenue"})
    database: Database = app.state.database

    first, second = await asyncio.gather(
        run_insights(_job(settings, database, tenant.tenant_id), InsightRun()),
        run_insights(_job(settings, database, tenant.tenant_id), InsightRun()),
    )

    assert first["found"] == second["found"] >= 1
    assert first["created"] + second["created"] == first["found"]
    async with database.tenant_session(tenant.tenant_id) as session:
        stored = await session.scalar(select(func.count()).select_from(Insight))
    assert stored == first["found"]
    again = await run_insights(_job(settings, database, tenant.tenant_id), InsightRun())
    assert again["created"] == 0


async def test_the_daily_dispatcher_queues_tenants_in_their_morning_only(
    client: httpx.AsyncClient, worker_database: Database, settings: Settings
) -> None:
    tenant = await create_tenant_in_zone(client, "Asia/Tokyo")
    tokyo_morning = datetime(2026, 12, 1, DAILY_LOCAL_HOUR - 9 + 24, 5, tzinfo=UTC)  # 06:05 on 2 Dec in Tokyo
    assert tenant.tenant_id in await due_tenants(worker_database, tokyo_morning)
    assert tenant.tenant_id not in await due_tenants(worker_database, tokyo_morning + timedelta(hours=1))

    await dispatch_daily_runs(JobRuntime(settings, worker_database, shared_compute()), now=tokyo_morning)
    jobs = await client.get("/api/v1/jobs", headers=tenant.headers, params={"kind": "insights.run"})
    assert jobs.json()["total"] == 1
    # The run is still waiting: the next dispatch does not queue a second one.
    await dispatch_daily_runs(JobRuntime(settings, worker_database, shared_compute()), now=tokyo_morning)
    jobs = await client.get("/api/v1/jobs", headers=tenant.headers, params={"kind": "insights.run"})
    assert jobs.json()["total"] == 1


async def test_a_failed_sync_becomes_one_data_health_insight(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    database: Database = app.state.database
    now = datetime.now(UTC)
    async with database.tenant_session(tenant.tenant_id) as session:
        source = DataSource(
            tenant_id=tenant.tenant_id,
            name="shop",
            connector_type="rest",
            schedule="hourly",
            last_synced_at=now - timedelta(hours=6),
        )
        session.add(source)
        await session.flush()
        session.add(
            ConnectorSync(
                tenant_id=tenant.tenant_id,
                data_source_id=source.id,
                trigger="schedule",
                status="failed",
                finished_at=now - timedelta(minutes=30),
                error={"code": "upstream_unauthorized", "message": "the API answered 401", "details": {}},
            )
        )
    first = await run_insights(_job(settings, database, tenant.tenant_id), InsightRun())
    assert first["by_type"] == {"data_health": 2}  # the failed sync, and six hours without a sync
    feed = await client.get("/api/v1/insights", headers=tenant.headers, params={"type": "data_health"})
    sentences = sorted(item["sentence"] for item in feed.json()["items"])
    assert "failed" in sentences[1] and "the API answered 401" in sentences[1]
    assert "stale" in sentences[0]
    assert {item["links"]["data_source_id"] for item in feed.json()["items"]} == {str(source.id)}
    again = await run_insights(_job(settings, database, tenant.tenant_id), InsightRun())
    assert again["created"] == 0


async def test_only_the_worker_role_lists_tenants_due_for_their_daily_run(
    app_engine: AsyncEngine, worker_engine: AsyncEngine
) -> None:
    lookup = text("select * from insights_due_tenants(now(), 6)")
    with pytest.raises(DBAPIError, match="permission denied"):
        async with app_engine.connect() as connection:
            await connection.execute(lookup)
    async with worker_engine.connect() as connection:
        await connection.execute(lookup)
