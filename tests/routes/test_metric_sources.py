"""One metric fed by manual entry and two real connectors reads exactly what its source rule says.

``revenue`` comes from manual entry, from Stripe and from Shopify (the real connector types
against the fake servers on loopback). Before a rule, the second source is refused; under
``priority`` [manual, stripe, shopify] every reader (rollups, goals, forecasts, evidence,
benchmarks) sees manual's numbers, and ``source=`` gives each connector's own series; under
``additive`` every reader sees their sum.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from backend.config import Settings
from backend.services.benchmarks.service import IMPORT_QUEUE
from backend.services.evidence import repository as evidence_repository
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_forecast, create_goal, create_tenant
from tests.jobs.support import run_pending_jobs
from tests.services.connectors.fakes import (
    SHOPIFY_TOKEN,
    STRIPE_KEY,
    FakeState,
    serve,
    shopify_app,
    stripe_app,
    stripe_txn,
)
from tests.services.connectors.fixtures import api, database, loopback_app, loopback_settings, worker
from tests.services.connectors.support import Worker, create_source, sync_now

# The connector tests' fixtures: an API and a worker whose connectors may reach loopback.
__all__ = ["api", "database", "loopback_app", "loopback_settings", "worker"]

DAYS = 70  # two complete months always lie inside: the benchmark compares the last one
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
FIRST = TODAY - timedelta(days=DAYS)


def _day(i: int) -> datetime:
    return FIRST + timedelta(days=i)


def _manual(i: int) -> float:
    return 5000.0 + 10 * (i % 7)


def _stripe(i: int) -> float:
    return 1500.0 + (i % 3)


def _shopify(i: int) -> float:
    return 400.0 + (i % 2)


def _stripe_transactions() -> list[dict[str, Any]]:
    return [
        stripe_txn(f"txn_{i}", _day(i) + timedelta(hours=12), "charge", int(_stripe(i) * 100), 30)
        for i in range(DAYS)
    ]


def _shopify_orders() -> list[dict[str, Any]]:
    return [
        {
            "id": i + 1,
            "created_at": (_day(i) + timedelta(hours=12)).isoformat().replace("+00:00", "Z"),
            "updated_at": (_day(i) + timedelta(hours=12)).isoformat().replace("+00:00", "Z"),
            "total_price": f"{_shopify(i):.2f}",
            "source_name": "web",
            "cancelled_at": None,
            "test": False,
        }
        for i in range(DAYS)
    ]


async def _daily(api: httpx.AsyncClient, tenant: TenantContext, **params: str) -> dict[str, Any]:
    response = await api.get(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        params={"bucket": "day", "tz": "UTC", "start": FIRST.isoformat(), "end": TODAY.isoformat(), **params},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _values(body: dict[str, Any]) -> list[float]:
    return [round(p["value"], 2) for s in body["series"] for p in s["points"]]


async def _declare(
    api: httpx.AsyncClient, tenant: TenantContext, metric: str, rule: str, order: list[str]
) -> None:
    response = await api.put(
        f"/api/v1/metrics/{metric}",
        headers=tenant.headers,
        json={"sources": {"rule": rule, "priority": order}},
    )
    assert response.status_code == 200, response.text


async def _import_benchmark(
    api: httpx.AsyncClient, tenant: TenantContext, settings: Settings, urls: DatabaseUrls
) -> str:
    industry = f"test-industry-{uuid.uuid4().hex[:8]}"
    csv = (
        "industry,metric,period,p25,p50,p75,source,source_url,year\n"
        f"{industry},revenue,month,100000,180000,260000,Example Survey,https://example.org/s,2025\n"
    )
    response = await api.post(
        "/api/v1/benchmarks/import",
        headers=tenant.headers,
        files={"file": ("b.csv", csv.encode(), "text/csv")},
    )
    assert response.status_code == 202, response.text
    await run_pending_jobs(settings, urls, [IMPORT_QUEUE])
    return industry


def _month_sum(values: dict[date, float], start: date, end: date) -> float:
    return round(sum(v for day, v in values.items() if start <= day < end), 2)


async def _readers(
    api: httpx.AsyncClient, tenant: TenantContext, database: Database, industry: str
) -> dict[str, Any]:
    """What goals, forecasts, evidence and benchmarks read of ``revenue`` right now."""
    goal = await create_goal(api, tenant.headers, target_value=100_000, days=60, period="week")
    forecast = await create_forecast(
        api, tenant.headers, metric="revenue", horizon=7, frequency="day", end=TODAY.isoformat()
    )
    compare = await api.get(
        "/api/v1/benchmarks/compare",
        headers=tenant.headers,
        params={"metric": "revenue", "industry": industry},
    )
    assert compare.status_code == 200, compare.text
    comparison = compare.json()["comparisons"][0]
    # Evidence's series read (the service-level read its analyses run on).
    async with database.tenant_session(tenant.tenant_id) as session:
        series = await evidence_repository.read_series(
            session, ["revenue"], start=FIRST, end=TODAY, zone="UTC"
        )
    return {
        "goal_baseline": round(goal["baseline_value"], 2),
        "forecast_observations": forecast["n_observations"],
        "forecast_mean": forecast["points"][0]["mean"],
        "evidence_total": round(sum(value for _, value in series["revenue"]), 2),
        "benchmark": (
            round(comparison["tenant_value"], 2),
            date.fromisoformat(comparison["period_start"][:10]),
            date.fromisoformat(comparison["period_end"][:10]),
        ),
    }


def _last_complete_week(values: dict[date, float]) -> float:
    today = TODAY.date()
    this_monday = today - timedelta(days=today.weekday())
    return _month_sum(values, this_monday - timedelta(days=7), this_monday)


async def test_manual_stripe_and_shopify_revenue_read_exactly_as_the_rule_says(
    api: httpx.AsyncClient,
    worker: Worker,
    database: Database,
    loopback_settings: Settings,
    database_urls: DatabaseUrls,
) -> None:
    tenant = await create_tenant(api)
    industry = await _import_benchmark(api, tenant, loopback_settings, database_urls)
    manual = [{"metric": "revenue", "ts": _day(i).isoformat(), "value": _manual(i)} for i in range(DAYS)]
    written = await api.post("/api/v1/metrics", headers=tenant.headers, json={"points": manual})
    assert written.status_code == 200, written.text

    with (
        serve(stripe_app(FakeState(), _stripe_transactions())) as stripe_base,
        serve(shopify_app(FakeState(), _shopify_orders())) as shopify_base,
    ):
        stripe = await create_source(
            api,
            tenant.headers,
            connector_type="stripe",
            config={"api_base": stripe_base, "page_size": 100},
            credentials={"secret_key": STRIPE_KEY},
        )
        shopify = await create_source(
            api,
            tenant.headers,
            connector_type="shopify",
            config={"shop_domain": "fake-shop.myshopify.com", "base_url": shopify_base},
            credentials={"access_token": SHOPIFY_TOKEN},
        )
        stripe_source, shopify_source = f"data_source:{stripe['id']}", f"data_source:{shopify['id']}"

        # Before any rule: Stripe may not add its revenue to manual's.
        refused = await sync_now(api, worker, tenant.headers, stripe["id"])
        assert refused["status"] == "failed", refused
        assert refused["error"]["code"] == "source_conflict"
        assert (
            "'revenue'" in refused["error"]["message"]
            and "PUT /api/v1/metrics/revenue" in refused["error"]["message"]
        )
        job = (await api.get(f"/api/v1/jobs/{refused['job_id']}", headers=tenant.headers)).json()
        assert job["status"] == "failed" and job["error"]["code"] == "source_conflict"
        untouched = await _daily(api, tenant)
        assert untouched["sources_available"] == ["manual"]
        assert _values(untouched) == [_manual(i) for i in range(DAYS)]
        for metric in ("orders", "fees"):  # nothing of the refused sync was written
            assert (await api.get(f"/api/v1/metrics/{metric}", headers=tenant.headers)).status_code == 404

        await _declare(api, tenant, "revenue", "priority", ["manual", stripe_source, shopify_source])
        await _declare(api, tenant, "orders", "priority", [stripe_source, shopify_source])
        for source in (stripe, shopify):
            run = await sync_now(api, worker, tenant.headers, source["id"])
            assert run["status"] == "succeeded", run

    by_priority = await _daily(api, tenant)
    assert by_priority["sources_used"] == ["manual"]
    assert sorted(by_priority["sources_available"]) == sorted(["manual", stripe_source, shopify_source])
    assert _values(by_priority) == [_manual(i) for i in range(DAYS)]
    assert _values(await _daily(api, tenant, source=stripe_source)) == [_stripe(i) for i in range(DAYS)]
    assert _values(await _daily(api, tenant, source=shopify_source)) == [_shopify(i) for i in range(DAYS)]

    manual_days = {_day(i).date(): _manual(i) for i in range(DAYS)}
    summed_days = {_day(i).date(): _manual(i) + _stripe(i) + _shopify(i) for i in range(DAYS)}
    seen = await _readers(api, tenant, database, industry)
    _, month_start, month_end = seen["benchmark"]
    assert seen["goal_baseline"] == _last_complete_week(manual_days)
    assert seen["forecast_observations"] == DAYS
    assert 4900 < seen["forecast_mean"] < 5200
    assert seen["evidence_total"] == round(sum(manual_days.values()), 2)
    assert seen["benchmark"][0] == _month_sum(manual_days, month_start, month_end)

    await _declare(api, tenant, "revenue", "additive", ["manual", stripe_source, shopify_source])
    by_sum = await _daily(api, tenant)
    assert sorted(by_sum["sources_used"]) == sorted(["manual", stripe_source, shopify_source])
    assert _values(by_sum) == [round(v, 2) for v in summed_days.values()]
    seen = await _readers(api, tenant, database, industry)
    assert seen["goal_baseline"] == _last_complete_week(summed_days)
    assert seen["forecast_observations"] == DAYS
    assert 6800 < seen["forecast_mean"] < 7100
    assert seen["evidence_total"] == round(sum(summed_days.values()), 2)
    assert seen["benchmark"][0] == _month_sum(summed_days, month_start, month_end)
