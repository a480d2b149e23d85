"""SMART goals through the API: validation, computed progress, automatic status, isolation."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.agents.seed import month_start, seed_monthly
from tests.factories import TenantContext, create_tenant, invite_and_activate


def _deadline(months_ahead: int) -> str:
    return (month_start(-months_ahead) + timedelta(days=10)).isoformat()


async def _create(client: httpx.AsyncClient, tenant: TenantContext, **fields: object) -> httpx.Response:
    body = {
        "title": "Grow revenue",
        "metric": "revenue",
        "target_value": 2000,
        "direction": "increase",
        "deadline": _deadline(6),
        **fields,
    }
    return await client.post("/api/v1/goals", headers=tenant.headers, json=body)


async def test_baseline_is_computed_from_the_last_complete_month(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1050, 1100, 1150, 1200, 1250])
    created = await _create(client, tenant, target_value=1600)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["baseline_value"] == 1250
    assert body["aggregation"] == "sum" and body["status"] == "active"
    assert body["warnings"] == []


async def test_implausible_target_is_accepted_with_a_warning(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1010, 990, 1005, 1000, 1010])
    created = await _create(client, tenant, target_value=100_000)
    assert created.status_code == 201
    assert created.json()["warnings"], "a 100x target in six months should draw a warning"


async def test_goals_must_be_smart(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100])
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
    assert no_history.json()["error"]["details"]["problems"][0]["field"] == "baseline_value"
    given = await _create(client, tenant, metric="churn", target_value=5, baseline_value=8)
    assert given.status_code == 201


async def test_progress_is_computed_from_metrics(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300, 1400, 1500])
    start = month_start(3).isoformat()  # the window holds the last three complete months
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
    await seed_monthly(client, tenant, "revenue", [1000, 1200, 2100])
    goal = (
        await _create(
            client, tenant, target_value=2000, baseline_value=1000, start_date=month_start(2).isoformat()
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
    await seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300])
    goal = (
        await _create(
            client, tenant, target_value=5000, baseline_value=1000, start_date=month_start(4).isoformat()
        )
    ).json()
    # Time passes: the deadline is now the end of the last complete month.
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        await connection.execute(
            text("update smart_goals set deadline = :d where id = :id"),
            {"d": month_start(1) + timedelta(days=20), "id": goal["id"]},
        )
    progress = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    assert progress["signal"] == "missed"
    assert progress["goal"]["status"] == "missed"


async def test_manual_status_moves_and_roles(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100])
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
    await seed_monthly(client, b, "revenue", [1000, 1100])
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


async def _as_tenant(engine: AsyncEngine, tenant: TenantContext, statement: str, **params: object) -> None:
    """One statement as the application role, under the tenant's RLS (for what the API cannot set yet)."""
    async with engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        await connection.execute(text(statement), params)


async def test_direction_comes_from_the_request_or_the_metric_else_it_is_asked_for(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "churn", [50, 48, 47])
    body = {"title": "Less churn", "metric": "churn", "target_value": 30, "deadline": _deadline(4)}
    unstated = await client.post("/api/v1/goals", headers=tenant.headers, json=body)
    assert unstated.status_code == 422, unstated.text
    assert unstated.json()["error"]["details"]["problems"][0]["field"] == "direction"
    assert (await client.get("/api/v1/goals", headers=tenant.headers)).json()["total"] == 0

    await _as_tenant(
        app_engine, tenant, "update metric_definitions set favourable_direction = 'down' where name = 'churn'"
    )
    from_metric = await client.post("/api/v1/goals", headers=tenant.headers, json=body)
    assert from_metric.status_code == 201, from_metric.text
    assert from_metric.json()["direction"] == "decrease"
    # The request wins over the metric, and a target beyond the baseline on the good side is a goal
    # to hold (accepted with a warning), never a goal of the other direction.
    stated = await client.post(
        "/api/v1/goals", headers=tenant.headers, json={**body, "target_value": 60, "direction": "decrease"}
    )
    assert stated.status_code == 201 and stated.json()["direction"] == "decrease"
    assert any("already meets" in w for w in stated.json()["warnings"])


# Two years of monthly revenue with a holiday peak; the last complete month is the issue's November.
SEASON = [0.92, 0.88, 0.97, 1.0, 1.02, 1.0, 0.98, 0.99, 1.01, 1.05, 1.38, 1.30]


def _seasonal_revenue(months: int, last: float) -> list[float]:
    values = [round(100_000 * (1 + 0.004 * i) * SEASON[(i + 12 - months) % 12], 2) for i in range(months)]
    return [*values[:-1], last]


async def test_the_issue_goal_is_an_increase_goal_projected_by_the_forecaster(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", _seasonal_revenue(24, 150_198))
    await _as_tenant(
        app_engine, tenant, "update metric_definitions set favourable_direction = 'up' where name = 'revenue'"
    )
    created = await client.post(
        "/api/v1/goals",
        headers=tenant.headers,
        json={
            "title": "Monthly revenue to $135k",
            "metric": "revenue",
            "target_value": 135_000,
            "deadline": _deadline(6),
        },
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    assert goal["direction"] == "increase" and goal["baseline_value"] == 150_198
    body = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    assert body["direction"] == "increase"
    projection = body["projection"]
    assert projection["method"] == "forecast" and projection["level"] == 80 and projection["note"] is None
    deadline = projection["at_deadline"]
    assert deadline["method"] == "forecast" and deadline["lower"] <= deadline["mean"] <= deadline["upper"]
    assert projection["periods"] and {"80", "95"} <= set(projection["periods"][0]["lower"])
    assert body["expected_at_deadline"] == deadline["mean"]
    # One scale for all three: the signal agrees with the estimates and the percent.
    best = projection["best"]
    if best["mean"] >= 135_000:
        assert body["signal"] == "on_track"
    elif best["upper"] is not None and best["upper"] >= 135_000:
        assert body["signal"] == "at_risk"
    else:
        assert body["signal"] == "off_track"
    assert body["signal"] not in ("achieved", "missed") and body["goal"]["status"] == "active"
    assert "forecast" in body["explanation"] and "80% interval" in body["explanation"]


async def test_without_enough_history_the_projection_is_a_trend_line_and_says_why(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300])
    goal = (await _create(client, tenant, target_value=3000, deadline=_deadline(8))).json()
    body = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    projection = body["projection"]
    assert projection["method"] == "linear" and projection["level"] is None
    assert "observations" in projection["note"] and projection["note"] in body["explanation"]
    assert projection["at_deadline"]["lower"] is None


async def test_the_pace_counts_days_through_the_last_day_with_data(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100, 1200])
    first = month_start(0)
    ingest = {"points": [{"metric": "revenue", "ts": f"{first.isoformat()}T10:00:00Z", "value": 300}]}
    assert (await client.post("/api/v1/metrics", headers=tenant.headers, json=ingest)).status_code == 200
    start = first.isoformat()
    goal = (await _create(client, tenant, target_value=9000, baseline_value=1200, start_date=start)).json()
    body = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    days_in_month = (month_start(-1) - first).days
    # Only the 1st has data: 300 a day, whatever day of the month it is today.
    assert body["current_period"]["projected_value"] == 300 * days_in_month


async def test_status_changes_are_kept_and_paginated(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100])
    goal = (
        await _create(
            client, tenant, target_value=2000, baseline_value=1000, start_date=month_start(1).isoformat()
        )
    ).json()
    history_path = f"/api/v1/goals/{goal['id']}/history"
    assert (await client.get(history_path, headers=tenant.headers)).json()["total"] == 0
    first = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    again = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    assert first["signal"] == again["signal"] != "achieved"
    assert (await client.get(history_path, headers=tenant.headers)).json()["total"] == 1  # no change, no row
    # Last month turns out at 2,100 (a correction): the goal is achieved, and the change is recorded.
    point = {"metric": "revenue", "ts": f"{month_start(1).isoformat()}T12:00:00Z", "value": 2100}
    assert (
        await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": [point]})
    ).status_code == 200
    achieved = (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=tenant.headers)).json()
    assert achieved["signal"] == "achieved" and achieved["percent_complete"] >= 100
    page = (await client.get(history_path, headers=tenant.headers, params={"limit": 1})).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    newest = page["items"][0]
    assert newest["signal"] == "achieved" and newest["previous_signal"] == first["signal"]
    assert newest["current_value"] == 2100
    other = await create_tenant(client)
    assert (await client.get(history_path, headers=other.headers)).status_code == 404


async def test_progress_exports_as_csv_and_xlsx_with_formulas_neutralised(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300])
    title = '=HYPERLINK("http://evil.example","x")'
    goal = (await _create(client, tenant, title=title, target_value=2000, baseline_value=1000)).json()
    path = f"/api/v1/goals/{goal['id']}/progress"
    csv_response = await client.get(path, headers=tenant.headers, params={"format": "csv"})
    assert csv_response.status_code == 200, csv_response.text
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_response.text)))
    assert rows[0][:4] == ["goal", "metric", "direction", "target"]
    assert all(row[0] == "'" + title for row in rows[1:])
    assert rows[-1][6] == "summary" and rows[-1][-1] in ("on_track", "at_risk", "off_track")
    xlsx_response = await client.get(path, headers=tenant.headers, params={"format": "xlsx"})
    assert xlsx_response.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx_response.content)).active
    assert sheet is not None
    cell = sheet.cell(row=2, column=1)
    assert cell.data_type == "s" and cell.value == "'" + title
    bad = await client.get(path, headers=tenant.headers, params={"format": "pdf"})
    assert bad.status_code == 422 and "error" in bad.json()


async def test_concurrent_progress_reads_record_one_status_change(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1100, 1200, 1300])
    goal = (await _create(client, tenant, target_value=2000, baseline_value=1000)).json()
    path = f"/api/v1/goals/{goal['id']}/progress"
    responses = await asyncio.gather(*(client.get(path, headers=tenant.headers) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    history = (await client.get(f"/api/v1/goals/{goal['id']}/history", headers=tenant.headers)).json()
    assert history["total"] == 1


async def test_status_history_rows_cannot_point_at_another_tenants_goal(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    await seed_monthly(client, b, "revenue", [1000, 1100])
    goal = (await _create(client, b)).json()
    assert (await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=b.headers)).status_code == 200
    with pytest.raises(IntegrityError):
        await _as_tenant(
            app_engine,
            a,
            "insert into goal_status_history (tenant_id, id, goal_id, signal) "
            "values (:owner, gen_random_uuid(), :goal, 'on_track')",
            owner=str(a.tenant_id),
            goal=goal["id"],
        )
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(a.tenant_id)}
        )
        seen = await connection.scalar(text("select count(*) from goal_status_history"))
    assert seen == 0
