"""SMART goals through the API: validation, computed progress, automatic status, isolation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import TenantContext, create_tenant, invite_and_activate


def _month_start(months_back: int) -> date:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


async def _seed_monthly(
    client: httpx.AsyncClient, tenant: TenantContext, metric: str, values: list[float]
) -> None:
    """One point per month, the last value in the last complete month (tenant zone is UTC)."""
    points = [
        {"metric": metric, "ts": f"{_month_start(len(values) - i).isoformat()}T12:00:00Z", "value": v}
        for i, v in enumerate(values)
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


def _deadline(months_ahead: int) -> str:
    return (_month_start(-months_ahead) + timedelta(days=10)).isoformat()


async def _create(client: httpx.AsyncClient, tenant: TenantContext, **fields: object) -> httpx.Response:
    body = {
        "title": "Grow revenue",
        "metric": "revenue",
        "target_value": 2000,
        "deadline": _deadline(6),
        **fields,
    }
    return await client.post("/api/v1/goals", headers=tenant.headers, json=body)


async def test_baseline_is_computed_from_the_last_complete_month(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1050, 1100, 1150, 1200, 1250])
    created = await _create(client, tenant, target_value=1600)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["baseline_value"] == 1250
    assert body["aggregation"] == "sum" and body["status"] == "active"
    assert body["warnings"] == []


async def test_implausible_target_is_accepted_with_a_warning(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1010, 990, 1005, 1000, 1010])
    created = await _create(client, tenant, target_value=100_000)
    assert created.status_code == 201
    assert created.json()["warnings"], "a 100x target in six months should draw a warning"


async def test_goals_must_be_smart(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1100])
    cases = {
        "unknown metric": {"metric": "nonexistent"},
        "past deadline": {"deadline": "2020-01-01"},
        "target equals baseline": {"target_value": 1100},
    }
    for label, fields in cases.items():
        response = await _create(client, tenant, **fields)
        assert response.status_code == 422, label
    await client.put("/api/v1/metrics/churn/definition", headers=tenant.headers, json={})
    no_history = await _create(client, tenant, metric="churn", target_value=5)
    assert no_history.status_code == 422
    assert no_history.json()["error"]["details"]["field"] == "baseline_value"
    given = await _create(client, tenant, metric="churn", target_value=5, baseline_value=8)
    assert given.status_code == 201


async def test_progress_is_computed_from_metrics(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300, 1400, 1500])
    start = _month_start(3).isoformat()  # the window holds the last three complete months
    goal = (await _create(client, tenant, target_value=2000, baseline_value=1000, start_date=start)).json()
    progress = await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)
    assert progress.status_code == 200, progress.text
    body = progress.json()
    assert body["current_value"] == 1500
    assert body["percent_complete"] == 50
    assert body["trend_per_period"] == 100
    assert body["direction"] == "increase"
    assert [h["value"] for h in body["history"] if h["complete"]] == [1300, 1400, 1500]
    assert "1,500" in body["explanation"] or "1500" in body["explanation"]


async def test_goal_becomes_achieved_when_a_complete_period_meets_target(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1200, 2100])
    goal = (
        await _create(
            client, tenant, target_value=2000, baseline_value=1000, start_date=_month_start(2).isoformat()
        )
    ).json()
    progress = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    assert progress["signal"] == "achieved"
    assert progress["goal"]["status"] == "achieved"
    reopened = await client.patch(
        f"/api/v1/goals/{goal['id']}", headers=tenant.headers, json={"status": "active"}
    )
    assert reopened.status_code == 409


async def test_goal_becomes_missed_after_its_deadline(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300])
    goal = (
        await _create(
            client, tenant, target_value=5000, baseline_value=1000, start_date=_month_start(4).isoformat()
        )
    ).json()
    # Time passes: the deadline is now the end of the last complete month.
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        await connection.execute(
            text("update smart_goals set deadline = :d where id = :id"),
            {"d": _month_start(1) + timedelta(days=20), "id": goal["id"]},
        )
    progress = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    assert progress["signal"] == "missed"
    assert progress["goal"]["status"] == "missed"


async def test_manual_status_moves_and_roles(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_monthly(client, tenant, "revenue", [1000, 1100])
    goal = (await _create(client, tenant)).json()
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    assert (await client.get(f"/api/v1/goals/{goal['id']}", headers=viewer)).status_code == 200
    as_viewer = await client.post(
        "/api/v1/goals",
        headers=viewer,
        json={"title": "t", "metric": "revenue", "target_value": 5000, "deadline": _deadline(3)},
    )
    assert as_viewer.status_code == 403
    abandoned = await client.patch(
        f"/api/v1/goals/{goal['id']}", headers=tenant.headers, json={"status": "abandoned"}
    )
    assert abandoned.json()["status"] == "abandoned"
    listed = await client.get("/api/v1/goals", headers=tenant.headers, params={"status": "abandoned"})
    assert [g["id"] for g in listed.json()["items"]] == [goal["id"]]
    assert (await client.delete(f"/api/v1/goals/{goal['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/goals/{goal['id']}", headers=tenant.headers)).status_code == 404


async def test_goals_never_cross_tenants(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    await _seed_monthly(client, b, "revenue", [1000, 1100])
    goal = (await _create(client, b)).json()
    for method, path in (("GET", ""), ("GET", "/progress"), ("PATCH", ""), ("DELETE", "")):
        kwargs = {"json": {"title": "mine now"}} if method == "PATCH" else {}
        response = await client.request(
            method, f"/api/v1/goals/{goal['id']}{path}", headers=a.headers, **kwargs
        )
        assert response.status_code == 404, (method, path)
    assert (await client.get("/api/v1/goals", headers=a.headers)).json()["total"] == 0
    # A goal on a metric only B has is refused for A.
    assert (await _create(client, a)).status_code == 422
