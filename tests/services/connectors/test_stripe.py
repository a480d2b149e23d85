"""Stripe: balance transactions become daily revenue, refunds, fees and orders; incremental and idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from backend.utils.database import Database
from tests.factories import create_tenant
from tests.services.connectors.fakes import FakeState, requests_to, serve, stripe_app, stripe_txn
from tests.services.connectors.support import Worker, create_stripe_source, stored_points, sync_now

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, tzinfo=UTC)
USD = '{"currency":"usd"}'
PATH = "/v1/balance_transactions"


def _at(day: datetime, hour: int) -> datetime:
    return day.replace(hour=hour)


def _transactions() -> list[dict[str, object]]:
    return [
        stripe_txn("txn_1", _at(DAY1, 9), "charge", 10_000, 320),
        stripe_txn("txn_2", _at(DAY1, 11), "charge", 5_050, 176),
        stripe_txn("txn_3", _at(DAY1, 15), "refund", -2_000, 0),
        stripe_txn("txn_4", _at(DAY2, 8), "charge", 7_500, 248),
        stripe_txn("txn_5", _at(DAY2, 10), "payout", -12_000, 0),
    ]


async def test_full_then_incremental_stripe_sync_writes_exact_daily_totals(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    transactions = _transactions()
    state = FakeState()
    with serve(stripe_app(state, transactions)) as base:
        source = await create_stripe_source(api, tenant.headers, base)
        first = await sync_now(api, worker, tenant.headers, source["id"])
        assert first["status"] == "succeeded", first
        assert first["records_read"] == 5
        # 3 per page: pagination with starting_after.
        pages = requests_to(state, PATH)
        assert [p["params"].get("starting_after") for p in pages] == [None, "txn_3"]
        points = await stored_points(database, tenant.tenant_id)
        assert points == {
            ("revenue", DAY1.isoformat(), USD): 150.5,
            ("orders", DAY1.isoformat(), USD): 2.0,
            ("refunds", DAY1.isoformat(), USD): 20.0,
            ("fees", DAY1.isoformat(), USD): 4.96,
            ("revenue", DAY2.isoformat(), USD): 75.0,
            ("orders", DAY2.isoformat(), USD): 1.0,
            ("fees", DAY2.isoformat(), USD): 2.48,
        }

        # New activity on day 2: the next sync asks only from the start of day 2 and rebuilds it whole.
        transactions.append(stripe_txn("txn_6", _at(DAY2, 18), "charge", 2_500, 103))
        state.requests.clear()
        second = await sync_now(api, worker, tenant.headers, source["id"])
        assert second["status"] == "succeeded"
        assert [p["params"]["created[gte]"] for p in requests_to(state, PATH)] == [str(int(DAY2.timestamp()))]
        assert second["records_read"] == 3
        points = await stored_points(database, tenant.tenant_id)
        assert points[("revenue", DAY2.isoformat(), USD)] == 100.0
        assert points[("orders", DAY2.isoformat(), USD)] == 2.0
        assert points[("revenue", DAY1.isoformat(), USD)] == 150.5
        assert len(points) == 7


async def test_stripe_resync_without_new_data_changes_nothing(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    with serve(stripe_app(FakeState(), _transactions())) as base:
        source = await create_stripe_source(api, tenant.headers, base)
        await sync_now(api, worker, tenant.headers, source["id"])
        before = await stored_points(database, tenant.tenant_id)
        again = await sync_now(api, worker, tenant.headers, source["id"])
    assert again["status"] == "succeeded"
    assert again["points_written"] == 0  # same values re-read: nothing inserted or changed
    assert await stored_points(database, tenant.tenant_id) == before


async def test_rejected_stripe_key_fails_the_sync_at_once_with_the_status_stored(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    tenant = await create_tenant(api)
    state = FakeState()
    with serve(stripe_app(state, _transactions())) as base:
        source = await create_stripe_source(api, tenant.headers, base, secret_key="sk_test_wrong_key_000")
        run = await sync_now(api, worker, tenant.headers, source["id"])
    assert run["status"] == "failed"
    assert run["attempts"] == 1  # 4xx: neither the request nor the job is retried
    assert len(state.requests) == 1
    assert run["error"]["code"] == "upstream_rejected"
    assert run["error"]["details"]["problems"][0]["status"] == 401
    assert "401" in run["error"]["message"] and "credentials were rejected" in run["error"]["message"]
    job = (await api.get(f"/api/v1/jobs/{run['job_id']}", headers=tenant.headers)).json()
    assert job["status"] == "failed" and job["error"]["code"] == "upstream_rejected"
