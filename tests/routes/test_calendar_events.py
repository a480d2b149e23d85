"""Marked calendar events through the API, and a daily forecast that takes them with the holidays."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import httpx

from tests.factories import (
    TenantContext,
    create_forecast,
    create_tenant,
    create_tenant_in_zone,
    invite_and_activate,
)

EVENTS = "/api/v1/calendar-events"


async def _seed_daily(client: httpx.AsyncClient, tenant: TenantContext, metric: str, days: int) -> date:
    """``days`` days of sales ending yesterday (UTC); returns the first day."""
    first = datetime.now(UTC).date() - timedelta(days=days)
    points = [
        {
            "metric": metric,
            "ts": f"{(first + timedelta(days=t)).isoformat()}T12:00:00Z",
            "value": 500 + 80 * math.sin(2 * math.pi * t / 7) + 0.3 * t,
        }
        for t in range(days)
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text
    return first


async def test_an_event_is_marked_listed_read_and_deleted(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_daily(client, tenant, "revenue", 10)
    created = await client.post(
        EVENTS,
        headers=tenant.headers,
        json={"name": " Summer sale ", "start": "2026-07-01", "end": "2026-07-05", "metric": "revenue"},
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert (event["name"], event["start"], event["end"], event["metric"]) == (
        "Summer sale",
        "2026-07-01",
        "2026-07-05",
        "revenue",
    )
    assert event["created_by"] == str(tenant.owner_id)
    one_day = await client.post(
        EVENTS, headers=tenant.headers, json={"name": "Black Friday", "start": "2026-11-27"}
    )
    assert one_day.status_code == 201 and one_day.json()["end"] == "2026-11-27"
    assert one_day.json()["metric"] is None

    listed = (await client.get(EVENTS, headers=tenant.headers)).json()
    assert [e["name"] for e in listed["items"]] == ["Summer sale", "Black Friday"] and listed["total"] == 2
    scoped = (await client.get(EVENTS, headers=tenant.headers, params={"metric": "revenue"})).json()
    assert [e["name"] for e in scoped["items"]] == ["Summer sale"]
    later = (await client.get(EVENTS, headers=tenant.headers, params={"since": "2026-08-01"})).json()
    assert [e["name"] for e in later["items"]] == ["Black Friday"]

    read = await client.get(f"{EVENTS}/{event['id']}", headers=tenant.headers)
    assert read.status_code == 200 and read.json() == event
    deleted = await client.delete(f"{EVENTS}/{event['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{EVENTS}/{event['id']}", headers=tenant.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


async def test_bad_events_are_refused_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    bad_bodies = [
        ({"name": "Sale", "start": "2026-07-05", "end": "2026-07-01"}, 422, "validation_failed"),
        ({"name": "Sale", "start": "2026-01-01", "end": "2027-06-01"}, 422, "validation_failed"),
        ({"name": "   ", "start": "2026-07-01"}, 422, "validation_failed"),
        ({"name": "Sale", "start": "not a day"}, 422, "validation_failed"),
        ({"name": "Sale", "start": "2026-07-01", "colour": "red"}, 422, "validation_failed"),
        ({"name": "Sale", "start": "2026-07-01", "metric": "no_such_metric"}, 404, "not_found"),
    ]
    for body, status, code in bad_bodies:
        response = await client.post(EVENTS, headers=tenant.headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code
    assert (await client.get(EVENTS, headers=tenant.headers)).json()["total"] == 0


async def test_viewers_cannot_mark_events_and_other_tenants_cannot_see_them(
    client: httpx.AsyncClient,
) -> None:
    tenant, other = await create_tenant(client), await create_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    refused = await client.post(EVENTS, headers=viewer, json={"name": "Sale", "start": "2026-07-01"})
    assert refused.status_code == 403
    created = await client.post(EVENTS, headers=tenant.headers, json={"name": "Sale", "start": "2026-07-01"})
    event_id = created.json()["id"]
    assert (await client.get(f"{EVENTS}/{event_id}", headers=viewer)).status_code == 200
    assert (await client.get(f"{EVENTS}/{event_id}", headers=other.headers)).status_code == 404
    assert (await client.delete(f"{EVENTS}/{event_id}", headers=other.headers)).status_code == 404
    assert (await client.get(EVENTS, headers=other.headers)).json()["total"] == 0


async def test_a_daily_forecast_takes_the_countrys_holidays_and_the_marked_events(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant_in_zone(client, "America/New_York")
    first = await _seed_daily(client, tenant, "revenue", 420)
    await _seed_daily(client, tenant, "orders", 5)
    today = datetime.now(UTC).date()
    sale = {"name": "Store sale", "metric": "revenue"}
    for start in (first + timedelta(days=100), today + timedelta(days=3)):
        marked = await client.post(EVENTS, headers=tenant.headers, json={**sale, "start": start.isoformat()})
        assert marked.status_code == 201, marked.text
    # Scoped to another metric: not a regressor of revenue.
    other = {"name": "Order promo", "metric": "orders", "start": (first + timedelta(days=50)).isoformat()}
    assert (await client.post(EVENTS, headers=tenant.headers, json=other)).status_code == 201

    body = await create_forecast(client, tenant.headers, metric="revenue", horizon=14, frequency="day")
    assert body["inputs"]["holiday_country"] == "US"
    calendar = body["calendar"]
    assert calendar["holiday_country"] == "US" and calendar["yearly_seasonality"]
    used = {(r["kind"], r["name"]): r for r in calendar["regressors"]}
    assert used[("event", "Store sale")]["history_days"] == 1
    assert used[("event", "Store sale")]["horizon_dates"] == [(today + timedelta(days=3)).isoformat()]
    assert ("event", "Order promo") not in used
    assert any(kind == "holiday" for kind, _ in used)
    assert "calendar" in {row["model"] for row in body["backtest"]}
    stored = await client.get(f"/api/v1/forecasts/{body['id']}", headers=tenant.headers)
    assert stored.json()["calendar"] == calendar


async def test_an_unknown_holiday_country_is_422_before_any_fitting(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_daily(client, tenant, "revenue", 60)
    response = await client.post(
        "/api/v1/forecasts",
        headers=tenant.headers,
        json={"metric": "revenue", "horizon": 7, "frequency": "day", "holiday_country": "XX"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unknown_holiday_country"
    assert (await client.get("/api/v1/forecasts", headers=tenant.headers)).json()["total"] == 0
