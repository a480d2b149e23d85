"""inventory: hand-computed orders, EOQ, brute force over order quantities, conflicts, validation."""

from __future__ import annotations

import itertools
import math
import random
from statistics import NormalDist

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import SolveOptions, run_template
from tests.services.optimizer.conftest import close, solve_like_brute_force

Z_ONE = NormalDist().cdf(1.0)  # the service level whose safety factor is exactly 1


def _two_products(**overrides: object) -> dict:
    params: dict = {
        "service_level": Z_ONE,
        "products": [
            # Needs 15 to reach its target of 20, but the supplier minimum is 24.
            {
                "sku": "P",
                "unit_cost": 10,
                "on_hand": 5,
                "demand_mean": 20,
                "min_order_qty": 24,
                "holding_cost": 1,
            },
            # Target 10 + 1 x 2 = 12, nothing on hand.
            {"sku": "Q", "unit_cost": 2, "demand_mean": 10, "demand_std": 2},
        ],
    }
    params.update(overrides)
    return params


def test_orders_reach_target_and_respect_the_supplier_minimum(options: SolveOptions) -> None:
    result = run_template("inventory", _two_products(budget=300), options)
    assert result.status == "optimal"
    assert result.decisions["order_qty.P"] == 24 and result.decisions["order_qty.Q"] == 12
    # 24 x 10 + 9 left over x 1 + 12 x 2
    assert close(result.objective, 273)
    assert close(result.summary["purchase_cost"], 264)
    assert close(result.summary["expected_holding_cost"], 9)
    assert any("supplier minimum" in s for s in result.explanation)


def test_cheap_stockouts_are_accepted_instead_of_ordering(options: SolveOptions) -> None:
    params = _two_products()
    params["products"][1]["stockout_cost"] = 1.5  # cheaper than buying at 2
    result = run_template("inventory", params, options)
    assert result.decisions["order_qty.Q"] == 0
    assert close(result.decisions["shortfall.Q"], 12)
    assert close(result.objective, 249 + 18)


def test_budget_too_small_for_the_service_level_names_every_rule_involved(options: SolveOptions) -> None:
    result = run_template("inventory", _two_products(budget=260), options)
    assert result.status == "infeasible"
    assert result.conflict is not None and result.conflict.minimal
    # Without any one of these four the plan exists: 240 + 24 > 260 only with all of them.
    assert {g.group for g in result.conflict.groups} == {
        "budget",
        "service_level[P]",
        "service_level[Q]",
        "min_order_qty[P]",
    }


def test_storage_limit_binds_and_is_reported(options: SolveOptions) -> None:
    params = _two_products(storage_capacity=50)
    params["products"][1].update(volume_per_unit=1, stockout_cost=5)
    params["products"][0].update(volume_per_unit=1)
    result = run_template("inventory", params, options)
    # P takes 5 + 24 = 29 units of space; Q's 12 still fit in 50, so storage is slack...
    assert result.decisions["order_qty.Q"] == 12
    params["storage_capacity"] = 35
    result = run_template("inventory", params, options)
    # ...but in 35 only 6 units of Q fit; the other 6 are short at 5 each.
    assert result.decisions["order_qty.Q"] == 6
    assert close(result.objective, 249 + 12 + 30)
    assert [b.name for b in result.binding_constraints] == ["storage"]


def test_eoq_is_the_classic_square_root_formula() -> None:
    params = {
        "periods_per_year": 52,
        "products": [{"sku": "A", "unit_cost": 1, "demand_mean": 100, "order_cost": 50, "holding_cost": 0.1}],
    }
    result = run_template("inventory", params)
    assert close(result.summary["eoq.A"], math.sqrt(2 * 5200 * 50 / 5.2))


def _cost(products: list[dict], z: float, qty: tuple[int, ...]) -> float | None:
    total = 0.0
    for product, q in zip(products, qty, strict=True):
        moq = product.get("min_order_qty", 0)
        if 0 < q < moq:
            return None
        target = product["demand_mean"] + z * product.get("demand_std", 0.0)
        short = max(target - product.get("on_hand", 0.0) - q, 0.0)
        if short > 1e-9 and product.get("stockout_cost") is None:
            return None
        total += product["unit_cost"] * q + (product.get("order_cost", 0.0) if q > 0 else 0.0)
        total += product.get("holding_cost", 0.0) * max(
            product.get("on_hand", 0.0) + q - product["demand_mean"], 0
        )
        total += (product.get("stockout_cost") or 0.0) * short
    return total


@pytest.mark.parametrize("seed", range(8))
def test_matches_exhaustive_search_over_order_quantities(options: SolveOptions, seed: int) -> None:
    rng = random.Random(100 + seed)
    products = []
    for index in range(3):
        products.append(
            {
                "sku": f"s{index}",
                "unit_cost": rng.choice([1, 2, 3.5, 5]),
                "on_hand": rng.choice([0, 2, 5]),
                "demand_mean": rng.randint(3, 10),
                "demand_std": rng.choice([0, 1, 2.5]),
                "holding_cost": rng.choice([0, 0.5, 2]),
                "order_cost": rng.choice([0, 3, 8]),
                "min_order_qty": rng.choice([0, 0, 6, 10]),
                "volume_per_unit": rng.choice([0.5, 1, 2]),
                "stockout_cost": rng.choice([None, 4, 9]),
            }
        )
    service = rng.choice([0.8, 0.9, 0.95])
    budget = rng.choice([None, 20, 40, 80])
    storage = rng.choice([None, 15, 30])
    params = {"products": products, "service_level": service, "budget": budget, "storage_capacity": storage}
    z = NormalDist().inv_cdf(service)

    best = None
    for qty in itertools.product(range(16), repeat=3):
        if (
            budget is not None
            and sum(p["unit_cost"] * q for p, q in zip(products, qty, strict=True)) > budget
        ):
            continue
        space = sum(p["volume_per_unit"] * (p["on_hand"] + q) for p, q in zip(products, qty, strict=True))
        if storage is not None and space > storage:
            continue
        cost = _cost(products, z, qty)
        if cost is not None and (best is None or cost < best):
            best = cost

    solve_like_brute_force("inventory", params, options, best)


def test_invalid_products_are_rejected() -> None:
    bad = {"products": [{"sku": "A", "unit_cost": 0, "demand_mean": 1}]}
    with pytest.raises(ValidationFailed) as caught:
        run_template("inventory", bad)
    assert caught.value.problems[0].path == "/products/0/unit_cost"
    with pytest.raises(ValidationFailed, match="below min_order_qty"):
        run_template(
            "inventory",
            {
                "products": [
                    {"sku": "A", "unit_cost": 1, "demand_mean": 1, "min_order_qty": 10, "max_order_qty": 5}
                ]
            },
        )
    with pytest.raises(ValidationFailed, match="service_level"):
        run_template(
            "inventory", {"service_level": 1.0, "products": [{"sku": "A", "unit_cost": 1, "demand_mean": 1}]}
        )
