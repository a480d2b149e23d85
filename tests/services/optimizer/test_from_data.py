"""Plans built from the shop's data recover planted truths: elasticity, staff per weekday, margins."""

from __future__ import annotations

import zoneinfo
from functools import partial

import httpx
import pytest

from backend.services.optimizer import run_template
from backend.services.optimizer.elasticity import estimate_elasticity, price_effect
from backend.services.optimizer.from_data import product_mix_inputs
from backend.services.optimizer.inputs import MissingInputs
from backend.services.optimizer.staffing_data import staffing_inputs
from backend.services.optimizer.types import FromDataAsk, SolveOptions
from backend.utils.database import Database
from tests.services.optimizer.shop_data import (
    MUG_COST,
    MUG_ELASTICITY,
    ORDERS_PER_STAFF_HOUR,
    STAFF_BY_WEEKDAY,
    mug_history,
    seed_pricing,
    seed_staffing,
    seeded_session,
)

UTC_ZONE = zoneinfo.ZoneInfo("UTC")


def test_a_planted_elasticity_is_recovered_within_its_interval() -> None:
    rows = mug_history(180)
    found = estimate_elasticity("mug", [p for _, p, _ in rows], [u for _, _, u in rows])
    assert found.low < MUG_ELASTICITY < found.high
    assert found.high - found.low < 0.5  # informative, not a band that covers anything
    assert (found.price_low, found.price_high, found.days) == (10.0, 13.0, 180)


def test_a_price_that_never_varied_is_refused_by_name() -> None:
    with pytest.raises(MissingInputs) as refused:
        estimate_elasticity("teapot", [25.0] * 60, [5.0 + i % 3 for i in range(60)])
    assert "teapot" in refused.value.needs[0] and "stayed between 25.00 and 25.00" in refused.value.why


def test_a_price_rise_on_elastic_demand_sells_fewer_units_at_a_wider_margin_band() -> None:
    rows = mug_history(180)
    elasticity = estimate_elasticity("mug", [p for _, p, _ in rows], [u for _, _, u in rows])
    effect = price_effect(elasticity, price=12.0, new_price=13.0, unit_cost=MUG_COST, units=100.0)
    expected_units = 100.0 * (13.0 / 12.0) ** elasticity.value
    assert effect.units_after.value == pytest.approx(expected_units)
    assert effect.units_after.low <= effect.units_after.value <= effect.units_after.high < 100.0
    assert effect.margin_before == pytest.approx(800.0)
    assert effect.margin_after.value == pytest.approx(9.0 * expected_units)
    assert not effect.outside_history
    beyond = price_effect(elasticity, price=12.0, new_price=20.0, unit_cost=MUG_COST, units=100.0)
    assert beyond.outside_history


async def test_planted_weekday_demand_gives_the_staff_count_and_a_schedule_that_covers_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with seeded_session(client, database, seed_staffing) as session:
        found = await staffing_inputs(session, UTC_ZONE, FromDataAsk())
    assert found.per_staff_hour == pytest.approx(ORDERS_PER_STAFF_HOUR)
    assert [need.day.weekday() for need in found.needs] == list(range(7))
    assert [need.staff for need in found.needs] == list(STAFF_BY_WEEKDAY)
    saturday = found.needs[5]
    assert saturday.demand.value == pytest.approx(240.0)
    assert saturday.demand.low < 240.0 < saturday.demand.high and saturday.history_days == 8
    assert found.derived is not None and found.roster_missing is None
    params = found.derived.params
    assert len(params["employees"]) == 8  # type: ignore[arg-type]
    result = run_template("staffing", params, SolveOptions())
    assert result.status == "optimal"
    on_saturday = [name for name, value in result.decisions.items() if ".sat." in name and value > 0.5]
    assert len(on_saturday) == 6, result.decisions


async def test_without_a_roster_the_staff_count_still_comes_and_the_schedule_names_what_it_needs(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with seeded_session(client, database, partial(seed_staffing, roster=False)) as session:
        found = await staffing_inputs(session, UTC_ZONE, FromDataAsk())
    assert [need.staff for need in found.needs] == list(STAFF_BY_WEEKDAY)
    assert found.derived is None and found.roster_missing is not None
    assert found.roster_missing.needs == ["staff_hours per person (with an 'employee' dimension)"]


async def test_product_mix_inputs_carry_margins_sales_and_the_mug_elasticity(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with seeded_session(client, database, seed_pricing) as session:
        found = await product_mix_inputs(session, UTC_ZONE)
    mug, teapot = found.product("mug"), found.product("Teapot")
    assert mug is not None and teapot is not None
    assert mug.elasticity is not None and mug.elasticity.low < MUG_ELASTICITY < mug.elasticity.high
    assert teapot.elasticity is None and teapot.refused is not None
    assert mug.unit_cost == MUG_COST and mug.price in (10.0, 11.0, 12.0, 13.0)
    assert any(note.startswith("teapot:") for note in found.derived.notes)
    labels = {source.label: source for source in found.derived.sources}
    assert labels["price elasticity of mug"].low == mug.elasticity.low
    result = run_template("product_mix", found.derived.params, SolveOptions())
    assert result.status == "optimal"
    assert result.decisions["buy.mug"] == pytest.approx(mug.weekly_units)
