"""The coach's what-ifs built from the shop's data, end to end through /api/v1/coach/chat (offline).

Planted truths: the staff count per weekday, the mug's price elasticity, the channels' response
curves. Every number shown is backed by a citation; the typed answer is in the optimizer's data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.agents.numbers import unbacked
from tests.agents.test_offline_agents import ask, cited
from tests.factories import TenantContext, create_tenant
from tests.routes.test_mmm import TWO_CHANNELS, fit_two_channels, shop_with_planted_mmm
from tests.services.optimizer.shop_data import (
    MUG_ELASTICITY,
    STAFF_BY_SHIFT,
    seed_pricing,
    seed_staffing,
    seed_staffing_by_hour,
)
from tests.sse import post_stream


async def _asked(
    client: httpx.AsyncClient,
    seed: Callable[[httpx.AsyncClient, TenantContext], Awaitable[None]],
    question: str,
) -> tuple[TenantContext, dict[str, Any]]:
    """A new tenant seeded by ``seed``, and the optimizer's offline answer to ``question``."""
    tenant = await create_tenant(client)
    await seed(client, tenant)
    body = await ask(client, tenant.headers, question)
    assert body["agents"] == ["optimizer"]
    return tenant, body


async def _run(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    path = next(
        a["path"] for a in body["suggested_actions"] if a["path"].startswith("/api/v1/optimizer/runs/")
    )
    run: dict[str, Any] = (await client.get(path, headers=headers)).json()
    return run


async def test_how_many_staff_next_saturday_comes_from_the_weekday_demand(client: httpx.AsyncClient) -> None:
    tenant, body = await _asked(client, seed_staffing, "How many staff do I need next Saturday?")
    (staff,) = [c for c in cited(body, "rounded up") if c["method"].endswith("rounded up")]
    assert staff["value"] == 6 and staff["display"] in body["reply"]
    run = await _run(client, tenant.headers, body)
    assert run["template"] == "staffing" and run["status"] == "optimal"
    saturday = [r for r in run["params"]["requirements"] if r["day"] == "sat"]
    assert saturday == [{"day": "sat", "shift": "day", "staff": 6, "skill": None}]


async def test_staff_for_next_saturday_by_the_hour_covers_each_shifts_busiest_hour(
    client: httpx.AsyncClient,
) -> None:
    tenant, body = await _asked(client, seed_staffing_by_hour, "How many staff do I need next Saturday?")
    day_shift, late_shift = STAFF_BY_SHIFT[5]
    shifts = [c for c in cited(body, "shift's busiest hour") if c["method"].endswith("rounded up")]
    assert [c["value"] for c in shifts] == [day_shift, late_shift]
    assert all(c["display"] in body["reply"] for c in shifts)
    peaks = [c for c in cited(body, "00 on the") if c["method"].endswith("1.96 sd")]
    assert [round(c["value"]) for c in peaks] == [22, 24]  # the planted 13:00 and 19:00 rushes
    assert "busiest hour 13:00" in body["reply"] and "busiest hour 19:00" in body["reply"]
    (total,) = [c for c in cited(body, "sum of the day's shifts") if c["method"].endswith("shifts")]
    assert total["value"] == day_shift + late_shift
    run = await _run(client, tenant.headers, body)
    assert run["template"] == "staffing" and run["status"] == "optimal"
    saturday = [(r["shift"], r["staff"]) for r in run["params"]["requirements"] if r["day"] == "sat"]
    assert saturday == [("09-17", day_shift), ("17-21", late_shift)]
    assert "Schedule for Saturday: 09-17 h " in body["reply"]


async def test_raising_the_mug_price_answers_with_the_elasticity_and_the_margin_band(
    client: httpx.AsyncClient,
) -> None:
    tenant, body = await _asked(client, seed_pricing, "Should I raise the mug price by $1?")
    (elasticity,) = [c for c in cited(body, "log-log OLS") if c["method"].endswith("95% CI")]
    low = next(c for c in cited(body, "log-log OLS") if c["method"].endswith(", low"))
    high = next(c for c in cited(body, "log-log OLS") if c["method"].endswith(", high"))
    assert low["value"] < MUG_ELASTICITY < high["value"] and low["value"] <= elasticity["value"]
    run = await _run(client, tenant.headers, body)
    assert run["template"] == "product_mix"

    refused = await ask(client, tenant.headers, "Should I raise the teapot price by $1?")
    assert refused["agents"] == ["optimizer"] and "cannot say" in refused["reply"]
    (price,) = cited(refused, "latest daily average")
    assert price["value"] == 25.0 and price["display"] in refused["reply"]


async def test_cutting_ad_spend_by_a_fifth_loses_less_than_a_fifth_of_the_channel_revenue(
    client: httpx.AsyncClient,
) -> None:
    truth, tenant = await shop_with_planted_mmm(client)
    await fit_two_channels(client, tenant)

    answer = await ask(client, tenant.headers, "What if I cut ad spend by 20%?")
    assert answer["agents"] == ["optimizer"]
    run = await _run(client, tenant.headers, answer)
    mean_spend = sum(float(truth.frame[c.name].mean()) for c in TWO_CHANNELS)
    assert run["params"]["total_budget"] == pytest.approx(30 * mean_spend, rel=0.02)
    values = [c["value"] for c in cited(answer, "summed over channels")]
    # now: value, low, high; after: value, low, high
    now, now_low, now_high, after, after_low, after_high = values
    assert now_low <= now <= now_high and after_low <= after <= after_high
    # Concave planted curves: a 20% cut loses less than 20% of the channels' revenue, but loses some.
    assert 0.8 * now < after < now
    spends = [c for c in cited(answer, "spend on ")]
    assert spends and all(c["value"] >= 0 for c in spends)


async def _shop_for(client: httpx.AsyncClient, template: str) -> TenantContext:
    """A new tenant with the data the template's what-if is planned from."""
    if template == "budget_allocation":
        _truth, tenant = await shop_with_planted_mmm(client)
        await fit_two_channels(client, tenant)
        return tenant
    tenant = await create_tenant(client)
    await (seed_staffing_by_hour if template == "staffing" else seed_pricing)(client, tenant)
    return tenant


@pytest.mark.parametrize(
    ("question", "template", "must_cite"),
    [
        ("How many staff do I need next Saturday?", "staffing", "shift's busiest hour"),
        ("Should I raise the mug price by $1?", "product_mix", "log-log OLS"),
        ("What if I cut ad spend by 20%?", "budget_allocation", "summed over channels"),
    ],
)
async def test_every_what_if_streams_the_same_backed_plan(
    client: httpx.AsyncClient, question: str, template: str, must_cite: str
) -> None:
    tenant = await _shop_for(client, template)
    stream = await post_stream(client, tenant.headers, question)
    names = stream.names
    assert names[-1] == "final" and "error" not in names, names
    final: dict[str, Any] = stream.events[-1].data
    assert final["agents"] == ["optimizer"]
    assert unbacked(final["reply"], final["citations"]) == [], final["reply"]
    assert cited(final, must_cite) and any(c["display"] in final["reply"] for c in cited(final, must_cite))
    run = await _run(client, tenant.headers, final)
    assert run["template"] == template and run["status"] == "optimal"
    # The JSON chat answers the same question with the same plan inputs.
    body = await ask(client, tenant.headers, question)
    assert (await _run(client, tenant.headers, body))["params"] == run["params"]
