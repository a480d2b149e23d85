"""A sync reports progress per page fetched: the fake server reads the job's stored progress
(another connection, as a client polling the job would) each time the connector asks for a page."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from backend.utils.database_urls import DatabaseUrls
from tests.factories import create_tenant
from tests.services.connectors.fakes import FakeState, rest_app, serve
from tests.services.connectors.support import Worker, create_source, start_sync

# Seven records, two a page: pages 1-4 hold records, page 5 comes back empty and ends the sync.
RECORDS = [{"day": f"2026-05-0{day}T00:00:00Z", "sales": 10.0 * day} for day in range(1, 8)]
MAPPINGS = {"timestamp": "day", "values": {"revenue": "sales"}}


async def _stored_progress(app_url: str, tenant_id: uuid.UUID, job_id: str) -> tuple[int, str]:
    connection = await asyncpg.connect(app_url.replace("+asyncpg", ""))
    try:
        async with connection.transaction():
            await connection.execute("select set_config('app.tenant_id', $1, true)", str(tenant_id))
            row = await connection.fetchrow(
                "select progress, message from background_jobs where id = $1", uuid.UUID(job_id)
            )
    finally:
        await connection.close()
    assert row is not None
    return int(row["progress"]), str(row["message"])


async def test_a_paged_sync_reports_progress_after_every_page(
    api: httpx.AsyncClient, worker: Worker, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(api)
    state = FakeState()
    seen: list[tuple[int, str]] = []
    job: dict[str, str] = {}

    async def observe() -> None:
        seen.append(await _stored_progress(database_urls.app, tenant.tenant_id, job["id"]))

    state.on_page = observe
    with serve(rest_app(state, RECORDS)) as base:
        config = {
            "url": base + "/page",
            "record_path": "data.items",
            "mappings": MAPPINGS,
            "pagination": {"type": "page", "page_size": 2},
        }
        source = await create_source(api, tenant.headers, connector_type="rest_json", config=config)
        job["id"] = (await start_sync(api, tenant.headers, source["id"]))["job_id"]
        await worker.run()
    final = (await api.get(f"/api/v1/jobs/{job['id']}", headers=tenant.headers)).json()
    assert final["status"] == "succeeded", final
    assert len(seen) == 5, seen
    # Before the first page: the sync has started; before page n: n - 1 pages were reported.
    assert seen[0][1].startswith("syncing")
    assert [message for _, message in seen[1:]] == [
        "read 2 records from 1 pages",
        "read 4 records from 2 pages",
        "read 6 records from 3 pages",
        "read 7 records from 4 pages",
    ]
    percents = [percent for percent, _ in seen]
    assert percents == sorted(set(percents)) and percents[-1] < 100, percents
