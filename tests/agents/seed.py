"""Seeded tenant data for the coach's agents, ingested through the metrics API (UTC tenants)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.factories import TenantContext

BATCH = 5000


def month_start(months_back: int) -> date:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


async def ingest(client: httpx.AsyncClient, tenant: TenantContext, points: list[dict[str, Any]]) -> None:
    for start in range(0, len(points), BATCH):
        response = await client.post(
            "/api/v1/metrics", headers=tenant.headers, json={"points": points[start : start + BATCH]}
        )
        assert response.status_code == 200, response.text


async def seed_monthly(
    client: httpx.AsyncClient, tenant: TenantContext, metric: str, values: list[float]
) -> None:
    """One point per month; the last value falls in the last complete month."""
    points = [
        {"metric": metric, "ts": f"{month_start(len(values) - i).isoformat()}T12:00:00Z", "value": v}
        for i, v in enumerate(values)
    ]
    await ingest(client, tenant, points)


def _days_back(count: int) -> list[date]:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=count - i) for i in range(count)]


async def seed_revenue_driven_by_ads(
    client: httpx.AsyncClient, tenant: TenantContext, days: int = 120
) -> None:
    """Daily ad_spend and revenue = 200 + 3 x ad_spend + a deterministic wiggle."""
    points = []
    for i, day in enumerate(_days_back(days)):
        spend = 50 + 40 * math.sin(i / 3.0) + (i % 7) * 5
        revenue = 200 + 3 * spend + 10 * math.cos(i * 1.7)
        ts = f"{day.isoformat()}T12:00:00Z"
        points += [
            {"metric": "ad_spend", "ts": ts, "value": round(spend, 2)},
            {"metric": "revenue", "ts": ts, "value": round(revenue, 2)},
        ]
    await ingest(client, tenant, points)


async def seed_daily(client: httpx.AsyncClient, tenant: TenantContext, metric: str, days: int) -> None:
    """A weekly-seasonal daily series with a gentle trend."""
    points = [
        {
            "metric": metric,
            "ts": f"{day.isoformat()}T12:00:00Z",
            "value": round(100 + i * 0.5 + 15 * math.sin(2 * math.pi * i / 7) + 6 * math.sin(i * 2.3), 2),
        }
        for i, day in enumerate(_days_back(days))
    ]
    await ingest(client, tenant, points)


async def seed_inventory(
    client: httpx.AsyncClient, tenant: TenantContext, *, with_cost: bool = True, days: int = 98
) -> None:
    """Daily units_sold per SKU (mug, teapot), the latest stock_level and unit_cost per SKU."""
    points = []
    for i, day in enumerate(_days_back(days)):
        ts = f"{day.isoformat()}T12:00:00Z"
        points.append({"metric": "units_sold", "ts": ts, "value": 10 + (i % 5), "dimensions": {"sku": "mug"}})
        points.append(
            {"metric": "units_sold", "ts": ts, "value": 4 + (i % 3), "dimensions": {"sku": "teapot"}}
        )
    latest = f"{_days_back(1)[0].isoformat()}T12:00:00Z"
    points += [
        {"metric": "stock_level", "ts": latest, "value": 30, "dimensions": {"sku": "mug"}},
        {"metric": "stock_level", "ts": latest, "value": 5, "dimensions": {"sku": "teapot"}},
    ]
    if with_cost:
        points += [
            {"metric": "unit_cost", "ts": latest, "value": 3.5, "dimensions": {"sku": "mug"}},
            {"metric": "unit_cost", "ts": latest, "value": 12, "dimensions": {"sku": "teapot"}},
        ]
    await ingest(client, tenant, points)
