"""Currency conversion of rollups against the real database: each point at its own day's rate.

Every expected number is worked out by hand in the test. Rates are chosen as binary fractions
(1.25, 1.5, 1.125, …) where the sum must be exact, so equality is exact too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.services.errors import ValidationFailed
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics.buckets import Bucket
from backend.services.metrics.currency import (
    ConvertedBucket,
    ConvertedRollup,
    DayPartial,
    MissingCurrency,
    MissingExchangeRate,
    MixedCurrencies,
    RatedPartial,
    combine,
)
from backend.services.metrics.rate_upload import RateRow
from backend.services.metrics.rates import convert_buckets, converted_rollup, target_currency, upsert_rates
from backend.services.metrics.reader import MetricQuery
from backend.utils.database import Database
from tests.factories import TenantContext, create_tenant

UTC_ZONE = ZoneInfo("UTC")
DAY = Bucket(unit="day", interval=None)
WEEK = Bucket(unit="week", interval=None)
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: one week bucket holds 2026-03-02 … 03-08


def revenue_point(ts: str, value: float, currency: str | None = None) -> dict[str, Any]:
    """A revenue point at ``ts``, with a ``currency`` dimension when given."""
    point: dict[str, Any] = {"metric": "revenue", "ts": ts, "value": value}
    if currency is not None:
        point["dimensions"] = {"currency": currency}
    return point


def at(day: int, hour: int = 12) -> str:
    return datetime(2026, 3, day, hour, tzinfo=UTC).isoformat()


async def ingest(
    client: httpx.AsyncClient, tenant: TenantContext, points: list[dict[str, Any]], source: str = "manual"
) -> None:
    response = await client.post(
        "/api/v1/metrics", headers=tenant.headers, json={"points": points, "source": source}
    )
    assert response.status_code == 200, response.text


async def set_metric_currency(
    database: Database, tenant: TenantContext, metric: str, currency: str | None
) -> None:
    async with database.tenant_session(tenant.tenant_id) as session:
        await session.execute(
            text("update metric_definitions set currency = :currency where name = :name"),
            {"currency": currency, "name": metric},
        )


async def load_rates(database: Database, tenant_id: uuid.UUID, rates: list[RateRow]) -> None:
    async with database.tenant_session(tenant_id) as session:
        await upsert_rates(session, rates)


async def rollup(
    database: Database,
    tenant: TenantContext,
    *,
    to: str | None,
    aggregation: str = "sum",
    bucket: Bucket = WEEK,
    zone: ZoneInfo = UTC_ZONE,
    sources: tuple[str, ...] = ("manual",),
    metric: str = "revenue",
) -> ConvertedRollup:
    async with database.tenant_session(tenant.tenant_id) as session:
        return await converted_rollup(
            session,
            metric=metric,
            sources=sources,
            start=datetime(2026, 2, 1, tzinfo=UTC),
            end=datetime(2026, 4, 1, tzinfo=UTC),
            bucket=bucket,
            zone=zone,
            to=to,
            aggregation=aggregation,
        )


@pytest.fixture
async def shop(client: httpx.AsyncClient, database: Database) -> TenantContext:
    """Revenue in USD (the metric's currency) from the till, and in EUR from a European store
    (a currency dimension), on three days with three EUR→USD rates."""
    tenant = await create_tenant(client)
    eur = {"currency": "EUR", "store": "eu"}
    await ingest(
        client,
        tenant,
        [
            revenue_point(at(2), 100.0),
            revenue_point(at(3), 200.0),
            revenue_point(at(4), 300.0),
            {"metric": "revenue", "ts": at(2, 13), "value": 10.0, "dimensions": eur},
            {"metric": "revenue", "ts": at(3, 13), "value": 20.0, "dimensions": eur},
            {"metric": "revenue", "ts": at(4, 18), "value": 40.0, "dimensions": eur},
        ],
    )
    await set_metric_currency(database, tenant, "revenue", "USD")
    await load_rates(
        database,
        tenant.tenant_id,
        [
            RateRow(date(2026, 3, 2), "EUR", "USD", 1.25),
            RateRow(date(2026, 3, 3), "EUR", "USD", 1.5),
            RateRow(date(2026, 3, 4), "EUR", "USD", 1.75),
        ],
    )
    return tenant


async def test_a_weekly_sum_converts_each_point_at_its_own_days_rate(
    shop: TenantContext, database: Database
) -> None:
    result = await rollup(database, shop, to="USD")
    # USD 100 + 200 + 300 = 600; EUR 10 x 1.25 + 20 x 1.5 + 40 x 1.75 = 12.5 + 30 + 70 = 112.5
    # (not the 70 x 1.25 = 87.5 of one rate for the whole week).
    assert result.currency == "USD"
    assert result.rows == [ConvertedBucket(MONDAY, None, 712.5, 6, True)]
    assert result.converted


async def test_daily_buckets_and_every_aggregation_convert_before_aggregating(
    shop: TenantContext, database: Database
) -> None:
    daily = await rollup(database, shop, to="USD", bucket=DAY)
    assert [(row.bucket.day, row.value, row.points) for row in daily.rows] == [
        (2, 112.5, 2),  # 100 + 10 x 1.25
        (3, 230.0, 2),  # 200 + 20 x 1.5
        (4, 370.0, 2),  # 300 + 40 x 1.75
    ]
    values = {
        agg: (await rollup(database, shop, to="USD", aggregation=agg)).rows[0].value
        for agg in ("avg", "min", "max", "last", "count")
    }
    # avg over the six converted points; min is EUR 10 x 1.25; the last point is EUR 40 at 18:00.
    assert values == {"avg": 712.5 / 6, "min": 12.5, "max": 300.0, "last": 70.0, "count": 6.0}


async def test_reading_in_the_other_currency_uses_the_inverse_rate(
    shop: TenantContext, database: Database
) -> None:
    result = await rollup(database, shop, to="EUR")
    # EUR 10 + 20 + 40 = 70; USD 100 / 1.25 + 200 / 1.5 + 300 / 1.75 = 80 + 133.33… + 171.43…
    assert result.rows[0].value == pytest.approx(70 + 80 + 400 / 3 + 1200 / 7, rel=1e-12)
    assert result.rows[0].converted


async def test_a_read_in_the_metrics_only_currency_is_not_flagged_converted(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await ingest(client, tenant, [revenue_point(at(2), 5.0)])
    await set_metric_currency(database, tenant, "revenue", "USD")
    result = await rollup(database, tenant, to="USD")
    assert result.rows == [ConvertedBucket(MONDAY, None, 5.0, 1, False)]


async def eur_tenant(
    client: httpx.AsyncClient,
    database: Database,
    points: list[dict[str, Any]],
    eur_usd: dict[date, float] | None = None,
) -> TenantContext:
    """A new tenant's points of a metric whose currency is EUR (on the definition), read in USD by
    the tests, with its EUR→USD rate of each day in ``eur_usd``."""
    tenant = await create_tenant(client)
    await ingest(client, tenant, points)
    await set_metric_currency(database, tenant, "revenue", "EUR")
    rates = [RateRow(day, "EUR", "USD", rate) for day, rate in (eur_usd or {}).items()]
    if rates:
        await load_rates(database, tenant.tenant_id, rates)
    return tenant


async def test_a_day_without_a_rate_uses_the_latest_rate_of_the_seven_days_before(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await eur_tenant(
        client,
        database,
        # 03-05: 4 days after the 1.25 of 03-01 (the 2.0 of 02-27 is older); 03-08: exactly 7 days after.
        [revenue_point(at(5), 8.0), revenue_point(at(8), 16.0)],
        {date(2026, 2, 27): 2.0, date(2026, 3, 1): 1.25},
    )
    result = await rollup(database, tenant, to="USD", bucket=DAY)
    assert [(row.bucket.day, row.value) for row in result.rows] == [(5, 10.0), (8, 20.0)]


async def test_a_day_eight_days_after_the_last_rate_is_refused_naming_the_pair_and_day(
    client: httpx.AsyncClient, database: Database
) -> None:
    # A later rate never serves an earlier day: 03-10 does not cover 03-09.
    tenant = await eur_tenant(
        client,
        database,
        [revenue_point(at(8), 16.0), revenue_point(at(9), 1.0), revenue_point(at(12), 1.0)],
        {date(2026, 3, 1): 1.25, date(2026, 3, 10): 1.5},
    )
    with pytest.raises(MissingExchangeRate) as raised:
        await rollup(database, tenant, to="USD")
    error = raised.value
    assert (error.status, error.code) == (422, "missing_exchange_rate")
    assert error.context == {"base": "EUR", "quote": "USD", "day": "2026-03-09", "fallback_days": 7}
    assert "EUR→USD" in error.message and "2026-03-09" in error.message


async def test_mixed_currencies_without_any_rate_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await ingest(client, tenant, [revenue_point(at(3), 1.0), revenue_point(at(4), 2.0, "gbp")])
    await set_metric_currency(database, tenant, "revenue", "USD")
    with pytest.raises(MissingExchangeRate) as raised:
        await rollup(database, tenant, to="USD")
    # The connector's lower-case "gbp" is the currency GBP.
    assert raised.value.context["base"] == "GBP" and raised.value.context["day"] == "2026-03-04"


async def test_points_with_no_currency_at_all_cannot_be_converted(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await ingest(client, tenant, [revenue_point(at(3), 1.0), revenue_point(at(4), 2.0, "EUR")])
    with pytest.raises(MissingCurrency) as raised:
        await rollup(database, tenant, to="EUR")
    assert (raised.value.status, raised.value.code) == (422, "missing_currency")


async def test_the_points_day_is_its_date_in_the_tenants_time_zone(
    client: httpx.AsyncClient, database: Database
) -> None:
    # 02:00 UTC on 03-03 is still 03-02 (21:00) in New York: the rate of 03-02 applies.
    tenant = await eur_tenant(
        client,
        database,
        [{"metric": "revenue", "ts": "2026-03-03T02:00:00+00:00", "value": 8.0}],
        {date(2026, 3, 2): 1.25, date(2026, 3, 3): 1.5},
    )
    new_york = await rollup(database, tenant, to="USD", bucket=DAY, zone=ZoneInfo("America/New_York"))
    utc = await rollup(database, tenant, to="USD", bucket=DAY)
    assert (new_york.rows[0].value, utc.rows[0].value) == (10.0, 12.0)


async def test_only_the_sources_the_rule_picked_are_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await ingest(client, tenant, [revenue_point(at(3), 4.0)])
    declared = await client.put(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        json={"sources": {"rule": "priority", "priority": ["manual", "shopify"]}},
    )
    assert declared.status_code == 200, declared.text
    await ingest(client, tenant, [revenue_point(at(3), 1000.0)], source="shopify")
    await set_metric_currency(database, tenant, "revenue", "USD")
    assert (await rollup(database, tenant, to="USD")).rows[0].value == 4.0
    both = await rollup(database, tenant, to="USD", sources=("manual", "shopify"))
    assert both.rows[0].value == 1004.0


async def test_another_tenants_rates_are_invisible(
    shop: TenantContext, client: httpx.AsyncClient, database: Database, app_engine: AsyncEngine
) -> None:
    other = await eur_tenant(client, database, [revenue_point(at(3), 8.0)])
    # The shop's EUR→USD rate of 03-03 exists, but not for this tenant.
    with pytest.raises(MissingExchangeRate):
        await rollup(database, other, to="USD")
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :tenant, true)"), {"tenant": str(other.tenant_id)}
        )
        assert await connection.scalar(text("select count(*) from exchange_rates")) == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            await connection.execute(
                text(
                    "insert into exchange_rates (tenant_id, base, quote, day, rate) "
                    "values (:tenant, 'EUR', 'USD', '2026-03-03', 9)"
                ),
                {"tenant": str(shop.tenant_id)},
            )


async def test_convert_buckets_agrees_with_the_rollup(shop: TenantContext, database: Database) -> None:
    # The shop's points, aggregated per day and currency by a caller (one point each).
    partials = [
        partial(day, currency, value, hour=hour)
        for day, currency, value, hour in (
            (2, "USD", 100.0, 12),
            (3, "USD", 200.0, 12),
            (4, "USD", 300.0, 12),
            (2, "EUR", 10.0, 13),
            (3, "EUR", 20.0, 13),
            (4, "EUR", 40.0, 18),
        )
    ]
    for aggregation in ("sum", "avg", "min", "max", "last"):
        async with database.tenant_session(shop.tenant_id) as session:
            converted = await convert_buckets(session, partials, to="USD", aggregation=aggregation)
        assert converted == (await rollup(database, shop, to="USD", aggregation=aggregation)).rows


async def test_the_reporting_currency_overrides_the_metrics_currency(
    shop: TenantContext, client: httpx.AsyncClient, database: Database
) -> None:
    async with database.tenant_session(shop.tenant_id) as session:
        assert await target_currency(session, "USD") == "USD"
        assert await target_currency(session, None) is None
    response = await client.patch(
        "/api/v1/tenants/me", headers=shop.headers, json={"reporting_currency": "EUR"}
    )
    assert response.status_code == 200, response.text
    async with database.tenant_session(shop.tenant_id) as session:
        assert await target_currency(session, "USD") == "EUR"


async def test_an_unknown_target_currency_is_refused(shop: TenantContext, database: Database) -> None:
    with pytest.raises(ValidationFailed, match="ISO 4217"):
        await rollup(database, shop, to="EURO")


def partial(day: int, currency: str | None, value: float, *, hour: int = 12) -> DayPartial:
    ts = datetime(2026, 3, day, hour, tzinfo=UTC)
    return DayPartial(MONDAY, None, date(2026, 3, day), currency, value, 1, value, value, value, ts)


def test_count_needs_no_rate_and_is_never_converted() -> None:
    rows = combine([RatedPartial(partial(2, "EUR", 5.0), None)], to="USD", aggregation="count")
    assert rows == [ConvertedBucket(MONDAY, None, 1.0, 1, False)]


def test_the_earliest_missing_day_is_reported() -> None:
    rated = [RatedPartial(partial(4, "EUR", 1.0), None), RatedPartial(partial(3, "GBP", 1.0), None)]
    with pytest.raises(MissingExchangeRate) as raised:
        combine(rated, to="USD", aggregation="sum")
    assert raised.value.context["base"] == "GBP" and raised.value.context["day"] == "2026-03-03"


def test_a_converted_value_too_large_for_a_float_is_a_422() -> None:
    rated = [RatedPartial(partial(2, "EUR", 1e300), 1e9)]
    with pytest.raises(ValidationFailed) as raised:
        combine(rated, to="USD", aggregation="sum")
    assert raised.value.code == "conversion_overflow"


async def test_fixed_interval_buckets_and_groups_convert_too(shop: TenantContext, database: Database) -> None:
    async with database.tenant_session(shop.tenant_id) as session:
        result = await converted_rollup(
            session,
            metric="revenue",
            sources=["manual"],
            start=None,
            end=None,
            bucket=Bucket(unit=None, interval=timedelta(days=1)),
            zone=UTC_ZONE,
            to="USD",
            aggregation="sum",
            dimensions={"store": "eu"},
            group_by="currency",
        )
    # Only the EU store's EUR points, one group, each day at its own rate.
    assert [(row.group_value, row.bucket.day, row.value, row.converted) for row in result.rows] == [
        ("EUR", 2, 12.5, True),
        ("EUR", 3, 30.0, True),
        ("EUR", 4, 70.0, True),
    ]


@pytest.mark.parametrize("unit", ["hour", "day", "week", "month"])
async def test_buckets_match_the_plain_rollup_across_a_dst_change(
    client: httpx.AsyncClient, database: Database, unit: str
) -> None:
    tenant = await create_tenant(client)
    # Hourly from 2026-03-07 to 03-10 UTC: New York springs forward on 03-08 (a 23-hour day).
    points = [
        {
            "metric": "revenue",
            "ts": (datetime(2026, 3, 7, tzinfo=UTC) + timedelta(hours=h)).isoformat(),
            "value": h,
        }
        for h in range(72)
    ]
    await ingest(client, tenant, points)
    await set_metric_currency(database, tenant, "revenue", "USD")
    zone, bucket = ZoneInfo("America/New_York"), Bucket(unit=unit, interval=None)
    converted = await rollup(database, tenant, to="USD", bucket=bucket, zone=zone)
    async with database.tenant_session(tenant.tenant_id) as session:
        plain = await metrics_reader.series(
            session, MetricQuery("revenue"), bucket=bucket, aggregation="sum", zone=zone.key
        )
    assert [(row.bucket, row.value, row.points) for row in converted.rows] == [
        (row.bucket, row.value, row.points) for row in plain.rows
    ]


async def test_without_a_target_points_read_in_their_one_currency_or_none(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await ingest(client, tenant, [{"metric": "orders", "ts": at(3), "value": 3.0}])
    await ingest(client, tenant, [revenue_point(at(3), 5.0, "usd")])
    orders = await rollup(database, tenant, to=None, metric="orders")
    assert (orders.currency, orders.rows) == (None, [ConvertedBucket(MONDAY, None, 3.0, 1, False)])
    revenue = await rollup(database, tenant, to=None)
    assert (revenue.currency, revenue.rows) == ("USD", [ConvertedBucket(MONDAY, None, 5.0, 1, False)])


async def test_without_a_target_points_in_two_currencies_are_never_added(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    # What a Stripe connector writes: one series per (lower-case) currency, no metric currency.
    await ingest(
        client,
        tenant,
        [revenue_point(at(3), 5.0, "usd"), revenue_point(at(3), 7.0, "eur")],
        source="stripe",
    )
    with pytest.raises(MixedCurrencies) as raised:
        await rollup(database, tenant, to=None, sources=("stripe",))
    assert (raised.value.status, raised.value.code) == (422, "mixed_currencies")
    assert raised.value.context == {"currencies": ["EUR", "USD"]}
