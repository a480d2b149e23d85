"""Big writes pass through a per-connection staging table: nothing of one write (rolled back, or
another tenant's) is ever in the next one's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from backend.services.metrics import repository
from backend.services.metrics.points import Point
from backend.services.metrics.service import ingest_points
from backend.utils.database import Database
from tests.factories import create_tenant

START = datetime(2026, 1, 1, tzinfo=UTC)


def _points(count: int, value: float, store: str) -> list[Point]:
    return [
        Point(metric="revenue", ts=START + timedelta(hours=i), value=value, dimensions={"store": store})
        for i in range(count)
    ]


class _Undo(Exception):
    pass


async def test_a_rolled_back_or_other_tenants_write_leaves_nothing_in_the_next(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "COPY_MIN_POINTS", 10)
    monkeypatch.setattr(repository, "UPSERT_CHUNK_POINTS", 40)  # two statements per 60 points
    shop, other = await create_tenant(client), await create_tenant(client)
    with pytest.raises(_Undo):
        async with database.tenant_session(shop.tenant_id) as session:
            assert (await ingest_points(session, _points(60, 1.0, "a"), source="upload")).inserted == 60
            raise _Undo
    async with database.tenant_session(other.tenant_id) as session:
        written = await ingest_points(session, _points(25, 2.0, "b"), source="upload")
    assert (written.received, written.inserted, written.updated) == (25, 25, 0)
    async with database.tenant_session(shop.tenant_id) as session:
        written = await ingest_points(session, _points(60, 3.0, "c"), source="upload")
    assert (written.received, written.inserted, written.duplicates_in_batch) == (60, 60, 0)
    for tenant, expected in ((shop, {("c", 3.0): 60}), (other, {("b", 2.0): 25})):
        response = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params={"limit": 1000})
        points = [p for series in response.json()["series"] for p in series["points"]]
        assert len(points) == sum(expected.values())
        assert {(p["dimensions"]["store"], p["value"]) for p in points} == set(expected)
