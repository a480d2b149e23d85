"""Writers of one metric run side by side: an open write does not hold the next one back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from backend.services.metrics.points import Point
from backend.services.metrics.service import ingest_points
from backend.utils.database import Database
from tests.factories import create_tenant

START = datetime(2026, 1, 1, tzinfo=UTC)


def _hours(first: int, count: int) -> list[Point]:
    return [Point("revenue", START + timedelta(hours=first + i), float(i)) for i in range(count)]


async def test_a_second_write_of_a_metric_does_not_wait_for_the_first_to_commit(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await create_tenant(client)
    async with database.tenant_session(shop.tenant_id) as session:
        await ingest_points(session, _hours(0, 10), source="manual")  # the definition lists "manual"
    async with database.tenant_session(shop.tenant_id) as first:
        assert (await ingest_points(first, _hours(10, 10), source="manual")).inserted == 10
        # ``first`` is still open. Before, its upsert had locked the metric's definition row until
        # commit, and this write waited for it: here that wait would be a lock timeout.
        async with database.tenant_session(shop.tenant_id) as second:
            await second.execute(text("set local lock_timeout = '3s'"))
            assert (await ingest_points(second, _hours(20, 10), source="manual")).inserted == 10
    response = await client.get("/api/v1/metrics/revenue", headers=shop.headers, params={"limit": 100})
    assert response.json()["total"] == 30
