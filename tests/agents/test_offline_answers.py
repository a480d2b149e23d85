"""The offline coach's composed answers on the demo shop and on seeded data of known truth.

No model is configured: every answer is composed from what the agents computed, and each of
its numbers must be backed by a citation.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from backend.agents.citations import display_number
from backend.demo.shop import DemoShop
from tests.agents.demo_shop import load_demo_shop
from tests.agents.seed import seed_revenue_driven_by_ads
from tests.agents.test_offline_agents import ask, cited
from tests.conftest import client_for
from tests.factories import TenantContext, create_tenant

END = date(2026, 11, 30)


@pytest.fixture(scope="module")
async def demo(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, TenantContext, DemoShop]]:
    async with client_for(app) as client:
        tenant, shop = await load_demo_shop(client, END)
        yield client, tenant, shop


def monthly_revenue(shop: DemoShop) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in shop.pos_csv.splitlines()[1:]:
        day, _store, _channel, revenue, _orders = line.split(",")
        totals[day[:7]] = totals.get(day[:7], 0.0) + float(revenue)
    return totals


async def test_next_quarter_answer_shows_the_december_peak_the_drivers_and_the_goal_gap(
    demo: tuple[httpx.AsyncClient, TenantContext, DemoShop],
) -> None:
    client, tenant, shop = demo
    body = await ask(client, tenant.headers, "What will revenue look like next quarter?")
    reply = body["reply"]
    assert body["agents"][0] == "forecaster" and "evidence_analyzer" in body["agents"]
    # A monthly outlook for the quarter, each month with its interval.
    means = cited(body, "forecast mean")
    assert [c["period"] for c in means] == [
        "month starting 2026-12-01",
        "month starting 2027-01-01",
        "month starting 2027-02-01",
    ]
    assert "December 2026" in reply and "80% interval" in reply
    # The planted yearly cycle peaks in December: last December stands above its trend, at its true total.
    december = monthly_revenue(shop)["2025-12"]
    (last_december,) = [
        c for c in cited(body, "revenue over the month") if c["period"] == "2025-12-01 to 2025-12-31"
    ]
    assert last_december["value"] == pytest.approx(december)
    assert re.search(
        rf"last December revenue was {re.escape(display_number(december))}, [\d.]+% above its trend", reply
    )
    # The recent change, true to the data.
    november = monthly_revenue(shop)["2026-11"]
    assert f"Revenue was {display_number(november)} in November 2026" in reply
    # The drivers and the goal the builder set.
    assert "What moves with revenue" in reply and "ad_spend" in reply
    assert "Goal 'Grow monthly revenue by 10%'" in reply and cited(body, "projection of goal")


async def test_how_to_increase_revenue_advises_from_drivers_outlook_and_goals_not_a_goal_draft(
    demo: tuple[httpx.AsyncClient, TenantContext, DemoShop],
) -> None:
    client, tenant, _shop = demo
    body = await ask(client, tenant.headers, "How can I increase revenue?")
    assert body["agents"][:2] == ["evidence_analyzer", "forecaster"] and "goal_planner" not in body["agents"]
    assert not [a for a in body["suggested_actions"] if a["path"] == "/api/v1/goals"]
    reply = body["reply"]
    assert "What moves with revenue" in reply and "Outlook for revenue per month" in reply
    assert "Goal 'Grow monthly revenue by 10%'" in reply
    # The budget plan says what it still needs, in words, rather than inventing a budget.
    assert "budget_allocation" in reply and "total budget" in reply


async def test_a_planted_driver_is_named_with_its_effect(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_revenue_driven_by_ads(client, tenant)
    body = await ask(client, tenant.headers, "How can I grow revenue?")
    reply = body["reply"]
    assert "ad_spend (correlation" in reply
    (effect,) = [c for c in cited(body, "effect of one unit of ad_spend") if "bound" not in c["method"]]
    assert abs(effect["value"] - 3) < 0.5
    assert f"one more unit of ad_spend goes with {effect['display']} more revenue" in reply


async def test_a_question_about_data_the_shop_lacks_says_which_connector_would_answer_it(
    demo: tuple[httpx.AsyncClient, TenantContext, DemoShop],
) -> None:
    client, tenant, _shop = demo
    body = await ask(client, tenant.headers, "How many customers churned last month?")
    assert body["agents"] == [] and body["citations"] == []
    assert "can't answer that from your data" in body["reply"] and "Stripe" in body["reply"]
    assert "revenue" in body["reply"]  # the metrics it does have


async def test_with_no_data_the_coach_says_how_to_connect_some(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = await ask(client, tenant.headers, "How can I increase revenue?")
    assert body["agents"] == [] and "You have no data yet" in body["reply"]
    assert "Known metrics: none yet" not in body["reply"] and "data-sources" in body["reply"]
