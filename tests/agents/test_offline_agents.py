"""Each agent end to end in offline mode (no model configured) on seeded metrics, through the chat API.

Every offline answer is checked: each number it shows is backed by a citation.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from backend.services.forecaster.service import SYNC_MAX_HORIZON
from tests.agents.numbers import unbacked
from tests.agents.seed import seed_daily, seed_inventory, seed_monthly, seed_revenue_driven_by_ads
from tests.factories import TenantContext, create_tenant, invite_and_activate

CHAT = "/api/v1/coach/chat"
MONTHLY_REVENUE = [1000, 1040, 1080, 1130, 1170, 1220, 1260, 1310]


async def ask(client: httpx.AsyncClient, headers: dict[str, str], message: str) -> dict[str, Any]:
    response = await client.post(CHAT, headers=headers, json={"message": message})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["templated"] is True and body["usage"]["provider"] == "offline"
    assert unbacked(body["reply"], body["citations"]) == [], body["reply"]
    return body


def cited(body: dict[str, Any], method_part: str) -> list[dict[str, Any]]:
    return [c for c in body["citations"] if method_part in c["method"]]


async def test_goal_planner_drafts_targets_from_the_computed_baseline(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", MONTHLY_REVENUE)
    body = await ask(client, tenant.headers, "Grow revenue 20% by the end of next year")
    assert body["agents"] == ["goal_planner"]
    (baseline,) = cited(body, "last complete month")
    assert baseline["value"] == MONTHLY_REVENUE[-1] and baseline["metric"] == "revenue"
    drafts = [a["body"] for a in body["suggested_actions"] if a["path"] == "/api/v1/goals"]
    requested = next(d for d in drafts if d["target_value"] == pytest.approx(MONTHLY_REVENUE[-1] * 1.2))
    assert requested["baseline_value"] == MONTHLY_REVENUE[-1] and requested["status"] == "draft"
    assert requested["period"] == "month" and requested["deadline"].endswith("-12-31")
    # The history (7 month-over-month changes) also gives on-trend and stretch targets above the baseline.
    assert len(drafts) == 3 and all(d["target_value"] > MONTHLY_REVENUE[-1] for d in drafts)
    # Drafts are not saved, and each one is a valid goal the user can accept.
    assert (await client.get("/api/v1/goals", headers=tenant.headers)).json()["total"] == 0
    accepted = await client.post("/api/v1/goals", headers=tenant.headers, json=requested)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["baseline_value"] == MONTHLY_REVENUE[-1]


async def test_goal_plan_endpoint_returns_drafts_without_saving(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", MONTHLY_REVENUE)
    response = await client.post(
        "/api/v1/goals/plan", headers=tenant.headers, json={"objective": "Grow revenue 10% this year"}
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["metric"] == "revenue" and plan["baseline_value"] == MONTHLY_REVENUE[-1]
    labels = [draft["label"] for draft in plan["drafts"]]
    assert labels[0] == "requested"
    assert plan["drafts"][0]["goal"]["target_value"] == pytest.approx(MONTHLY_REVENUE[-1] * 1.1)
    assert any(c["value"] == MONTHLY_REVENUE[-1] for c in plan["citations"])
    assert (await client.get("/api/v1/goals", headers=tenant.headers)).json()["total"] == 0

    unknown = await client.post(
        "/api/v1/goals/plan", headers=tenant.headers, json={"objective": "Grow it", "metric": "profit"}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["problems"][0]["needs"] == [
        "metric"
    ]


async def test_optimizer_plans_reorders_from_inventory_metrics(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_inventory(client, tenant)
    body = await ask(client, tenant.headers, "How much stock should I reorder this week?")
    assert body["agents"] == ["optimizer"]
    run_path = next(a["path"] for a in body["suggested_actions"] if a["method"] == "GET")
    run = (await client.get(run_path, headers=tenant.headers)).json()
    assert run["template"] == "inventory" and run["status"] == "optimal"
    # The solved inputs are the cited ones, derived from the metrics.
    products = {p["sku"]: p for p in run["params"]["products"]}
    assert set(products) == {"mug", "teapot"}
    assert products["mug"]["on_hand"] == 30 and products["teapot"]["unit_cost"] == 12
    (mug_demand,) = cited(body, "mean weekly units of mug")
    assert mug_demand["value"] == pytest.approx(products["mug"]["demand_mean"])
    (teapot_order,) = cited(body, "order quantity of teapot")
    assert teapot_order["value"] == run["result"]["decisions"]["order_qty.teapot"]


async def test_optimizer_names_the_inputs_it_cannot_derive(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_inventory(client, tenant, with_cost=False)
    body = await ask(client, tenant.headers, "Plan my inventory purchase orders")
    assert body["agents"] == ["optimizer"] and "unit cost per SKU" in body["reply"]
    assert body["citations"] == []
    runs = (await client.get("/api/v1/optimizer/runs", headers=tenant.headers)).json()
    assert runs["total"] == 0

    staffing = await ask(client, tenant.headers, "Build a staff schedule for next week's shifts")
    assert staffing["agents"] == ["optimizer"] and "orders, transactions, customers" in staffing["reply"]


async def test_optimizer_is_refused_to_viewers(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_inventory(client, tenant)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    body = await ask(client, viewer, "How much stock should I reorder this week?")
    assert "analyst role" in body["reply"]
    assert (await client.get("/api/v1/optimizer/runs", headers=tenant.headers)).json()["total"] == 0


async def test_evidence_analyzer_screens_drivers_with_effect_sizes(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_revenue_driven_by_ads(client, tenant)
    body = await ask(client, tenant.headers, "What drives revenue?")
    assert body["agents"] == ["evidence_analyzer"]
    assert cited(body, "correlation of ad_spend with revenue")
    print(body["reply"])
    (effect,) = [c for c in cited(body, "effect of one unit of ad_spend") if "interval" not in c["method"]]
    (low,) = [c["value"] for c in cited(body, "interval lower bound") if "ad_spend" in c["method"]]
    (high,) = [c["value"] for c in cited(body, "interval upper bound") if "ad_spend" in c["method"]]
    # The seeded revenue moves by 3 per unit of ad spend.
    assert low <= effect["value"] <= high and abs(effect["value"] - 3) < 0.5
    assert "refutation tests not run yet" in body["reply"]
    assert any(a["path"] == "/api/v1/evidence/analyze" for a in body["suggested_actions"])


async def test_forecaster_reports_intervals_and_backtested_accuracy(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, "orders", 120)
    body = await ask(client, tenant.headers, "Forecast orders for the next 2 weeks")
    assert body["agents"][0] == "forecaster"
    means = cited(body, "forecast mean")
    assert len(means) == 14 and all(c["metric"] == "orders" for c in means)
    assert len(cited(body, "80% prediction interval lower bound")) == 14
    assert cited(body, "backtest MASE")


async def test_chat_forecast_horizon_stays_within_the_services_synchronous_limit(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, "orders", 120)
    body = await ask(client, tenant.headers, "Forecast orders for the next 3 months")
    assert body["agents"][0] == "forecaster"
    assert len(cited(body, "forecast mean")) == SYNC_MAX_HORIZON
    stored = (await client.get("/api/v1/forecasts", headers=tenant.headers)).json()["items"]
    assert [f["horizon"] for f in stored] == [SYNC_MAX_HORIZON]


async def test_a_chat_forecast_that_fails_is_counted_like_the_services(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, "orders", 6)
    failures = REGISTRY.get_sample_value("forecasts_total", {"outcome": "failure"}) or 0.0
    response = await client.post(
        CHAT, headers=tenant.headers, json={"message": "Forecast orders for the next 2 weeks"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agents"][0] == "forecaster" and "could not forecast orders" in body["reply"]
    assert REGISTRY.get_sample_value("forecasts_total", {"outcome": "failure"}) == failures + 1


async def test_a_greeting_runs_no_agent(client: httpx.AsyncClient) -> None:
    tenant: TenantContext = await create_tenant(client)
    response = await client.post(CHAT, headers=tenant.headers, json={"message": "Hello there"})
    body = response.json()
    assert body["agents"] == [] and body["citations"] == [] and "forecast" in body["reply"]


async def test_evidence_analyzer_reports_stored_analyses_with_refutation_status(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await seed_revenue_driven_by_ads(client, tenant)
    analysis = await client.post(
        "/api/v1/evidence/analyze",
        headers=tenant.headers,
        json={"outcome": "revenue", "treatment": "ad_spend"},
    )
    assert analysis.status_code == 201, analysis.text
    edge = analysis.json()
    body = await ask(client, tenant.headers, "Does ad spend drive revenue?")
    assert body["agents"] == ["evidence_analyzer"]
    (effect,) = [c for c in cited(body, "effect of one unit of ad_spend") if "interval" not in c["method"]]
    assert effect["value"] == edge["effect_size"] and effect["period"] is not None
    assert f"verdict {edge['verdict']}" in body["reply"] and "refuters passed:" in body["reply"]
    assert body["suggested_actions"][0]["path"] == f"/api/v1/evidence/edges/{edge['id']}"


async def test_optimizer_answers_a_what_if_on_the_plan(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_inventory(client, tenant)
    body = await ask(
        client, tenant.headers, "How much stock should I reorder, and what if demand is 50% higher?"
    )
    assert "optimizer" in body["agents"]
    (before,) = cited(body, "total cost before")
    (after,) = cited(body, "total cost with demand +50%")
    assert after["value"] > before["value"]
    assert "What if demand +50%" in body["reply"]
