"""What connector tests share: their settings, the worker, creating sources, reading stored points."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from backend.config import Settings
from backend.models import BusinessMetric
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.jobs.support import fast_retry_settings, run_pending_jobs
from tests.services.connectors.fakes import STRIPE_KEY


def connector_settings(settings: Settings) -> Settings:
    return fast_retry_settings(
        settings,
        allow_private_networks=True,
        http_backoff_base_seconds=0.001,
        http_backoff_max_seconds=0.01,
        http_max_retries=3,
        sync_max_attempts=2,
    )


class Worker:
    """Runs the jobs waiting on the connectors queue, in this process."""

    def __init__(self, settings: Settings, urls: DatabaseUrls) -> None:
        self.settings, self.urls = settings, urls

    async def run(self) -> None:
        await run_pending_jobs(self.settings, self.urls, ["connectors"])


async def create_source(api: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"source-{uuid.uuid4().hex[:8]}")
    response = await api.post("/api/v1/data-sources", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_stripe_source(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    base: str,
    *,
    page_size: int = 3,
    secret_key: str = STRIPE_KEY,
) -> dict[str, Any]:
    """A Stripe source reading the fake Stripe at ``base``."""
    return await create_source(
        api,
        headers,
        connector_type="stripe",
        config={"api_base": base, "page_size": page_size},
        credentials={"secret_key": secret_key},
    )


async def start_sync(api: httpx.AsyncClient, headers: dict[str, str], source_id: str) -> dict[str, Any]:
    response = await api.post(f"/api/v1/data-sources/{source_id}/sync", headers=headers)
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{started['job_id']}"
    return started


async def sync_now(
    api: httpx.AsyncClient, worker: Worker, headers: dict[str, str], source_id: str
) -> dict[str, Any]:
    """Request a sync, run the worker, return the finished sync run."""
    started = await start_sync(api, headers, source_id)
    await worker.run()
    history = (await api.get(f"/api/v1/data-sources/{source_id}/syncs", headers=headers)).json()
    run = next(item for item in history["items"] if item["id"] == started["id"])
    return run


async def stored_points(database: Database, tenant_id: uuid.UUID) -> dict[tuple[str, str, str], float]:
    """Every point of the tenant: (metric, iso ts, dimensions key) → value."""
    async with database.tenant_session(tenant_id) as session:
        rows = await session.scalars(select(BusinessMetric).where(BusinessMetric.tenant_id == tenant_id))
        return {(r.metric, r.ts.isoformat(), r.dimensions_key): r.value for r in rows}
