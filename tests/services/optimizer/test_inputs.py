"""Inventory inputs read from metrics in the service layer (what the coach's optimizer agent runs)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import partial

import httpx
import pytest

from backend.services.optimizer.inputs import MissingInputs, inventory_inputs
from backend.utils.database import Database
from tests.agents.seed import seed_inventory
from tests.services.optimizer.shop_data import seeded_session

UTC_ZONE = zoneinfo.ZoneInfo("UTC")


async def test_inventory_inputs_come_from_weekly_demand_and_latest_levels(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with seeded_session(client, database, seed_inventory) as session:
        found = await inventory_inputs(session, UTC_ZONE, lead_weeks=2)
    assert (found.metrics.demand, found.metrics.stock, found.metrics.cost) == (
        "units_sold",
        "stock_level",
        "unit_cost",
    )
    mug, teapot = found.skus
    assert (mug.sku, mug.on_hand.value, mug.unit_cost.value) == ("mug", 30, 3.5)
    assert (teapot.sku, teapot.on_hand.value, teapot.unit_cost.value) == ("teapot", 5, 12)
    # Daily sales cycle 10..14 (mug) and 4..6 (teapot): about 84 and 35 a week, twice over two weeks.
    assert mug.demand_mean == pytest.approx(2 * 84, abs=2 * 3) and teapot.demand_mean == pytest.approx(
        70, abs=4
    )
    assert found.window.demand_end.weekday() == 0 and found.window.demand_end <= datetime.now(UTC)
    assert found.params()["products"][0] == {
        "sku": "mug",
        "unit_cost": 3.5,
        "on_hand": 30,
        "demand_mean": mug.demand_mean,
        "demand_std": mug.demand_std,
    }


async def test_missing_inventory_metrics_are_named(client: httpx.AsyncClient, database: Database) -> None:
    async with seeded_session(client, database, partial(seed_inventory, with_cost=False)) as session:
        with pytest.raises(MissingInputs) as refused:
            await inventory_inputs(session, UTC_ZONE)
    assert refused.value.needs == [
        "unit cost per SKU (one of unit_cost, cost_per_unit with a 'sku' dimension)"
    ]
    assert refused.value.status == 422 and refused.value.context == {"needs": refused.value.needs}
