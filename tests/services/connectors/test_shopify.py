"""Shopify orders → daily revenue, orders and AOV by channel; page_info pages; updated orders rebuild days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from backend.utils.database import Database
from tests.factories import create_tenant
from tests.services.connectors.fakes import (
    SHOPIFY_ORDERS,
    SHOPIFY_TOKEN,
    FakeState,
    requests_to,
    serve,
    shopify_app,
)
from tests.services.connectors.support import Worker, create_source, stored_points, sync_now

DAY1 = datetime(2026, 4, 6, tzinfo=UTC)
DAY2 = datetime(2026, 4, 7, tzinfo=UTC)
WEB, POS = '{"channel":"web"}', '{"channel":"pos"}'


def _order(
    order_id: int, created: str, total: str, channel: str, updated: str | None = None
) -> dict[str, Any]:
    return {
        "id": order_id,
        "created_at": created,
        "updated_at": updated or created,
        "total_price": total,
        "source_name": channel,
        "cancelled_at": None,
        "test": False,
    }


def _orders() -> list[dict[str, Any]]:
    return [
        _order(1, "2026-04-06T09:00:00Z", "40.00", "web"),
        _order(2, "2026-04-06T10:00:00Z", "60.00", "web"),
        _order(3, "2026-04-06T12:00:00Z", "25.50", "pos"),
        _order(4, "2026-04-07T08:00:00Z", "80.00", "web"),
        _order(5, "2026-04-07T09:30:00Z", "19.99", "web"),
    ]


async def _shopify_source(
    api: httpx.AsyncClient, headers: dict[str, str], base: str, **config: Any
) -> dict[str, Any]:
    return await create_source(
        api,
        headers,
        connector_type="shopify",
        config={"shop_domain": "fake-shop.myshopify.com", "base_url": base, **config},
        credentials={"access_token": SHOPIFY_TOKEN},
    )


async def _sync_change_sync(
    api: httpx.AsyncClient,
    worker: Worker,
    headers: dict[str, str],
    change: Callable[[list[dict[str, Any]]], None],
) -> tuple[dict[str, Any], FakeState]:
    """Sync the shop, ``change`` its orders, sync again: the second run and the requests it made."""
    orders = _orders()
    state = FakeState()
    with serve(shopify_app(state, orders)) as base:
        source = await _shopify_source(api, headers, base)
        await sync_now(api, worker, headers, source["id"])
        change(orders)
        state.requests.clear()
        run = await sync_now(api, worker, headers, source["id"])
    assert run["status"] == "succeeded", run
    return run, state


async def test_shopify_full_sync_pages_with_page_info_and_writes_revenue_orders_and_aov(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    state = FakeState()
    with serve(shopify_app(state, _orders())) as base:
        source = await _shopify_source(api, tenant.headers, base, page_size=2)
        run = await sync_now(api, worker, tenant.headers, source["id"])
    assert run["status"] == "succeeded", run
    pages = requests_to(state, SHOPIFY_ORDERS)
    assert len(pages) == 3
    assert all(set(p["params"]) == {"limit", "page_info"} for p in pages[1:])
    points = await stored_points(database, tenant.tenant_id)
    assert points == {
        ("revenue", DAY1.isoformat(), WEB): 100.0,
        ("orders", DAY1.isoformat(), WEB): 2.0,
        ("average_order_value", DAY1.isoformat(), WEB): 50.0,
        ("revenue", DAY1.isoformat(), POS): 25.5,
        ("orders", DAY1.isoformat(), POS): 1.0,
        ("average_order_value", DAY1.isoformat(), POS): 25.5,
        ("revenue", DAY2.isoformat(), WEB): 99.99,
        ("orders", DAY2.isoformat(), WEB): 2.0,
        ("average_order_value", DAY2.isoformat(), WEB): 49.995,
    }


async def test_shopify_incremental_sync_rebuilds_the_days_of_updated_orders(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)

    def change(orders: list[dict[str, Any]]) -> None:
        # Order 2 (day 1) is cancelled later; a new web order lands on day 2.
        orders[1].update(cancelled_at="2026-04-08T10:00:00Z", updated_at="2026-04-08T10:00:00Z")
        orders.append(_order(6, "2026-04-07T20:00:00Z", "10.01", "web", updated="2026-04-08T11:00:00Z"))

    run, state = await _sync_change_sync(api, worker, tenant.headers, change)
    assert run["cursor_before"] == {"updated_at_min": "2026-04-07T09:30:00+00:00"}
    assert run["cursor_after"] == {"updated_at_min": "2026-04-08T11:00:00+00:00"}
    first = requests_to(state, SHOPIFY_ORDERS)[0]["params"]
    assert first["updated_at_min"] == "2026-04-07T09:30:00+00:00"
    points = await stored_points(database, tenant.tenant_id)
    assert points[("revenue", DAY1.isoformat(), WEB)] == 40.0
    assert points[("orders", DAY1.isoformat(), WEB)] == 1.0
    assert points[("revenue", DAY1.isoformat(), POS)] == 25.5  # untouched channel of a rebuilt day
    assert points[("revenue", DAY2.isoformat(), WEB)] == 110.0
    assert points[("orders", DAY2.isoformat(), WEB)] == 3.0


async def test_a_rebuilt_day_drops_what_the_shop_no_longer_reports(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)

    def change(orders: list[dict[str, Any]]) -> None:
        # On day 1 the only point-of-sale order is deleted, and order 1 moves to another channel.
        del orders[2]
        orders[0].update(source_name="mobile", updated_at="2026-04-08T10:00:00Z")

    await _sync_change_sync(api, worker, tenant.headers, change)
    points = await stored_points(database, tenant.tenant_id)
    day1 = {(metric, dims): value for (metric, ts, dims), value in points.items() if ts == DAY1.isoformat()}
    assert day1 == {
        ("revenue", WEB): 60.0,
        ("orders", WEB): 1.0,
        ("average_order_value", WEB): 60.0,
        ("revenue", '{"channel":"mobile"}'): 40.0,
        ("orders", '{"channel":"mobile"}'): 1.0,
        ("average_order_value", '{"channel":"mobile"}'): 40.0,
    }
    # Day 2 was not rebuilt and keeps its points.
    assert points[("revenue", DAY2.isoformat(), WEB)] == 99.99
