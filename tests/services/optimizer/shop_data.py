"""A shop's data with planted truths for plans built from data (ingested through the metrics API).

- Staffing: orders by weekday (Mon–Fri 80, Sat 240, Sun 120 on average, ±10 week to week), staff
  hours exactly orders / 5 (so 5 orders per staff hour), worked in 8-hour days by a rota of eight
  people with an hourly wage each. With 8-hour shifts that needs 2 staff Mon–Fri, 6 Sat, 3 Sun.
- Staffing by the hour: orders per hour from 09:00 to 21:00 with a weekday's own profile
  (``HOURLY_ORDERS``: a flat rate per shift with one busy hour, ±2 orders week to week), staff
  hours orders / 5 a day, worked by ``HOURLY_ROTA`` (half of them each week, in 8-hour shares).
  With 8-hour shifts from the opening that is 09-17 and 17-21, staffed for their busiest hour:
  ``STAFF_BY_SHIFT``.
- Pricing: the mug's units follow a constant elasticity of ``MUG_ELASTICITY`` over prices 10–13
  (log-normal noise); the teapot's price never changed.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from backend.utils.database import Database
from tests.agents.seed import ingest
from tests.factories import TenantContext, create_tenant

ORDERS_BY_WEEKDAY = (80.0, 80.0, 80.0, 80.0, 80.0, 240.0, 120.0)
ORDERS_PER_STAFF_HOUR = 5.0
SHIFT_HOURS = 8.0
STAFF_BY_WEEKDAY = (2, 2, 2, 2, 2, 6, 3)
ROTA = ("ana", "ben", "cai", "dee", "eli", "fay", "gus", "hal")
# weekday -> (09-17 orders per hour, its busy hour, orders then; 17-21 likewise)
HOURLY_ORDERS = (
    *[(8.0, 12, 14.0, 12.0, 18, 19.0)] * 5,
    (14.0, 13, 22.0, 16.0, 19, 24.0),
    (6.0, 12, 9.0, 4.0, 17, 4.0),
)
# Busiest hour / 5 orders per staff hour, rounded up: (09-17, 17-21) per weekday.
STAFF_BY_SHIFT = (*[(3, 4)] * 5, (5, 5), (2, 1))
HOURLY_ROTA = tuple(f"p{i:02d}" for i in range(12))
MUG_ELASTICITY = -1.5
MUG_PRICES = (10.0, 11.0, 12.0, 13.0)
MUG_COST, TEAPOT_COST, TEAPOT_PRICE = 4.0, 10.0, 25.0


@asynccontextmanager
async def seeded_session(
    client: httpx.AsyncClient,
    database: Database,
    seed: Callable[[httpx.AsyncClient, TenantContext], Awaitable[None]],
) -> AsyncIterator[AsyncSession]:
    """A session of a new tenant whose data ``seed`` has ingested (what a service reads plans from)."""
    tenant = await create_tenant(client)
    await seed(client, tenant)
    async with database.tenant_session(tenant.tenant_id) as session:
        yield session


def days_back(count: int) -> list[date]:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=count - i) for i in range(count)]


async def seed_staffing(
    client: httpx.AsyncClient, tenant: TenantContext, *, roster: bool = True, weeks: int = 8
) -> None:
    points: list[dict[str, Any]] = []
    offset = 0
    for day in days_back(7 * weeks):
        swing = 10.0 if (day.toordinal() // 7) % 2 else -10.0
        orders = ORDERS_BY_WEEKDAY[day.weekday()] + swing
        ts = f"{day.isoformat()}T12:00:00Z"
        points.append({"metric": "orders", "ts": ts, "value": orders})
        hours = orders / ORDERS_PER_STAFF_HOUR
        if not roster:
            points.append({"metric": "staff_hours", "ts": ts, "value": hours})
            continue
        people = int(hours // SHIFT_HOURS)
        shares = [SHIFT_HOURS] * people + ([hours - people * SHIFT_HOURS] if hours % SHIFT_HOURS else [])
        for j, share in enumerate(shares):
            who = ROTA[(offset + j) % len(ROTA)]
            dims = {"employee": who}
            points.append({"metric": "staff_hours", "ts": ts, "value": share, "dimensions": dims})
        offset += len(shares)
    if roster:
        latest = f"{days_back(1)[0].isoformat()}T12:00:00Z"
        points += [
            {"metric": "hourly_wage", "ts": latest, "value": 15.0 + i, "dimensions": {"employee": who}}
            for i, who in enumerate(ROTA)
        ]
    await ingest(client, tenant, points)


def hourly_orders(weekday: int) -> dict[int, float]:
    """Mean orders in each hour of a ``weekday`` (09:00–21:00)."""
    day_rate, day_peak, day_busy, late_rate, late_peak, late_busy = HOURLY_ORDERS[weekday]
    hours = {h: day_rate for h in range(9, 17)} | {h: late_rate for h in range(17, 21)}
    return hours | {day_peak: day_busy, late_peak: late_busy}


async def seed_staffing_by_hour(client: httpx.AsyncClient, tenant: TenantContext, *, weeks: int = 8) -> None:
    """Orders by the hour, staff hours per person per day, and a wage each (module docstring)."""
    points: list[dict[str, Any]] = []
    for day in days_back(7 * weeks):
        week = day.toordinal() // 7
        swing = 2.0 if week % 2 else -2.0
        by_hour = {h: orders + swing for h, orders in hourly_orders(day.weekday()).items()}
        points += [
            {"metric": "orders", "ts": f"{day.isoformat()}T{h:02d}:30:00Z", "value": v}
            for h, v in by_hour.items()
        ]
        hours = sum(by_hour.values()) / ORDERS_PER_STAFF_HOUR
        crew = [HOURLY_ROTA[(6 * week + (j + day.weekday()) % 6) % len(HOURLY_ROTA)] for j in range(6)]
        for j in range(math.ceil(hours / SHIFT_HOURS)):
            share = min(SHIFT_HOURS, hours - j * SHIFT_HOURS)
            dims = {"employee": crew[j]}
            points.append(
                {
                    "metric": "staff_hours",
                    "ts": f"{day.isoformat()}T12:00:00Z",
                    "value": share,
                    "dimensions": dims,
                }
            )
    latest = f"{days_back(1)[0].isoformat()}T12:00:00Z"
    points += [
        {"metric": "hourly_wage", "ts": latest, "value": 15.0 + i % 4, "dimensions": {"employee": who}}
        for i, who in enumerate(HOURLY_ROTA)
    ]
    await ingest(client, tenant, points)


def mug_history(days: int, seed: int = 7) -> list[tuple[date, float, float]]:
    """(day, price, units): the price moves between MUG_PRICES by week; units at the planted elasticity."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, day in enumerate(days_back(days)):
        price = MUG_PRICES[(i // 7 + i // 19) % len(MUG_PRICES)]
        units = 400.0 * price**MUG_ELASTICITY * float(rng.lognormal(0.0, 0.15))
        rows.append((day, price, round(units, 2)))
    return rows


async def seed_pricing(client: httpx.AsyncClient, tenant: TenantContext, days: int = 180) -> None:
    points: list[dict[str, Any]] = []
    for day, price, units in mug_history(days):
        ts = f"{day.isoformat()}T12:00:00Z"
        points += [
            {"metric": "units_sold", "ts": ts, "value": units, "dimensions": {"sku": "mug"}},
            {"metric": "price", "ts": ts, "value": price, "dimensions": {"sku": "mug"}},
            {"metric": "units_sold", "ts": ts, "value": 5.0 + day.day % 3, "dimensions": {"sku": "teapot"}},
            {"metric": "price", "ts": ts, "value": TEAPOT_PRICE, "dimensions": {"sku": "teapot"}},
        ]
    latest = f"{days_back(1)[0].isoformat()}T12:00:00Z"
    points += [
        {"metric": "unit_cost", "ts": latest, "value": MUG_COST, "dimensions": {"sku": "mug"}},
        {"metric": "unit_cost", "ts": latest, "value": TEAPOT_COST, "dimensions": {"sku": "teapot"}},
    ]
    await ingest(client, tenant, points)
