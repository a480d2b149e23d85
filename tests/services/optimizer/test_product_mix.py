"""product_mix: the textbook LP and its duals, brute force on whole units, unbounded and timed-out runs."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import SolveOptions, run_template
from tests.services.optimizer.conftest import close, solve_like_brute_force

# Hillier & Lieberman's Wyndor Glass: max 3x + 5y, x <= 4, 2y <= 12, 3x + 2y <= 18.
WYNDOR = {
    "resources": [
        {"name": "plant1", "capacity": 4, "unit": "hours"},
        {"name": "plant2", "capacity": 12, "unit": "hours"},
        {"name": "plant3", "capacity": 18, "unit": "hours"},
    ],
    "products": [
        {"name": "door", "price": 3, "make_cost": 0, "resource_use": {"plant1": 1, "plant3": 3}},
        {"name": "window", "price": 5, "make_cost": 0, "resource_use": {"plant2": 2, "plant3": 2}},
    ],
}


def test_textbook_optimum_and_shadow_prices(options: SolveOptions) -> None:
    result = run_template("product_mix", WYNDOR, options)
    assert result.status == "optimal"
    assert close(result.objective, 36)
    assert close(result.decisions["make.door"], 2) and close(result.decisions["make.window"], 6)
    prices = {b.name: b.shadow_price for b in result.binding_constraints}
    # The optimum is non-degenerate, so the duals are unique: plant2 1.5, plant3 1, plant1 slack.
    assert prices.keys() == {"capacity[plant2]", "capacity[plant3]"}
    assert close(prices["capacity[plant2]"], 1.5) and close(prices["capacity[plant3]"], 1.0)
    assert any("plant1 (2 hours spare)" in s for s in result.explanation)


def test_reduced_cost_says_how_much_margin_a_product_lacks(options: SolveOptions) -> None:
    params = {
        "resources": [{"name": "oven", "capacity": 10}],
        "products": [
            {"name": "bread", "price": 4, "make_cost": 1, "resource_use": {"oven": 1}},
            {"name": "cake", "price": 7, "make_cost": 2, "resource_use": {"oven": 2}},
        ],
    }
    result = run_template("product_mix", params, options)
    # Bread earns 3 per oven hour, cake 2.5: cake needs 2 x 3 - 5 = 1 more margin per unit.
    assert close(result.objective, 30)
    assert close(result.reduced_costs["make.cake"], -1.0)
    assert any("cake (needs 1 more margin per unit)" in s for s in result.explanation)


def test_buying_in_fills_demand_beyond_capacity(options: SolveOptions) -> None:
    params = {
        "resources": [{"name": "line", "capacity": 5}],
        "products": [
            {
                "name": "x",
                "price": 10,
                "make_cost": 4,
                "buy_cost": 8,
                "max_sales": 9,
                "resource_use": {"line": 1},
            },
        ],
    }
    result = run_template("product_mix", params, options)
    assert close(result.decisions["make.x"], 5) and close(result.decisions["buy.x"], 4)
    assert close(result.objective, 5 * 6 + 4 * 2)


def test_missing_limit_is_reported_as_unbounded(options: SolveOptions) -> None:
    params = {"products": [{"name": "free", "price": 2, "buy_cost": 1}]}
    result = run_template("product_mix", params, options)
    assert result.status == "unbounded"
    assert result.objective is None
    assert "without limit" in result.explanation[0]


def test_committed_orders_beyond_capacity_conflict(options: SolveOptions) -> None:
    params = {
        "resources": [{"name": "line", "capacity": 10}],
        "products": [
            {"name": "a", "price": 5, "make_cost": 1, "min_sales": 6, "resource_use": {"line": 1}},
            {"name": "b", "price": 5, "make_cost": 1, "min_sales": 6, "resource_use": {"line": 1}},
            {"name": "c", "price": 5, "make_cost": 1, "max_sales": 3, "resource_use": {"line": 1}},
        ],
    }
    result = run_template("product_mix", params, options)
    assert result.status == "infeasible"
    assert result.conflict is not None
    assert {g.group for g in result.conflict.groups} == {"capacity[line]", "min_sales[a]", "min_sales[b]"}


@pytest.mark.parametrize("seed", range(8))
def test_whole_units_match_exhaustive_search(options: SolveOptions, seed: int) -> None:
    rng = random.Random(300 + seed)
    resources = [{"name": f"r{i}", "capacity": rng.randint(6, 20)} for i in range(2)]
    products = []
    for index in range(3):
        products.append(
            {
                "name": f"p{index}",
                "price": rng.randint(5, 20),
                "make_cost": rng.randint(1, 8),
                "resource_use": {r["name"]: rng.choice([0, 1, 2, 3, 1.5]) for r in resources},
                "min_sales": rng.choice([0, 0, 1, 2]),
                "max_sales": rng.randint(2, 6),
            }
        )
    products[0]["buy_cost"] = rng.randint(4, 15)
    params = {"resources": resources, "products": products, "whole_units": True}

    best = None
    ranges = [range(p["max_sales"] + 1) for p in products] + [range(products[0]["max_sales"] + 1)]
    for *made, bought in itertools.product(*ranges):
        sold = [m + (bought if i == 0 else 0) for i, m in enumerate(made)]
        if any(s < p["min_sales"] or s > p["max_sales"] for s, p in zip(sold, products, strict=True)):
            continue
        if any(
            sum(p["resource_use"][r["name"]] * m for p, m in zip(products, made, strict=True)) > r["capacity"]
            for r in resources
        ):
            continue
        margin = sum((p["price"] - p["make_cost"]) * m for p, m in zip(products, made, strict=True))
        margin += (products[0]["price"] - products[0]["buy_cost"]) * bought
        best = margin if best is None else max(best, margin)

    solve_like_brute_force("product_mix", params, options, best)


def _hard_knapsack() -> dict:
    # Many whole-unit products, several tight resources and margins correlated with resource use:
    # the classic shape on which branch and bound cannot close the gap in a second.
    rng = random.Random(1)
    n, m = 80, 10
    use = [[rng.randint(20, 100) for _ in range(n)] for _ in range(m)]
    return {
        "whole_units": True,
        "resources": [{"name": f"r{k}", "capacity": sum(use[k]) // 2} for k in range(m)],
        "products": [
            {
                "name": f"p{j}",
                "price": sum(use[k][j] for k in range(m)) // m + rng.randint(0, 10),
                "make_cost": 0,
                "max_sales": 3,
                "resource_use": {f"r{k}": use[k][j] for k in range(m)},
            }
            for j in range(n)
        ],
    }


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_time_limit_returns_the_incumbent_with_its_gap(solver: str) -> None:
    options = SolveOptions(solver=solver, time_limit_seconds=1.0, explain_infeasibility=False)
    started = time.perf_counter()
    result = run_template("product_mix", _hard_knapsack(), options)
    elapsed = time.perf_counter() - started
    assert elapsed < 6, "the time limit must stop the solver"
    assert result.status == "feasible"
    assert result.objective is not None and result.best_bound is not None
    assert result.best_bound >= result.objective - 1e-6, "a maximisation's bound lies above the incumbent"
    assert result.gap is not None and 0 < result.gap < 0.5
    assert close(result.gap, (result.best_bound - result.objective) / result.objective)
    assert "time limit" in result.explanation[0] and "at most" in result.explanation[0]


def test_products_with_unknown_resources_or_no_source_are_rejected() -> None:
    with pytest.raises(ValidationFailed, match="unknown resources"):
        run_template(
            "product_mix", {"products": [{"name": "a", "price": 1, "make_cost": 0, "resource_use": {"x": 1}}]}
        )
    with pytest.raises(ValidationFailed, match="make_cost, buy_cost or both"):
        run_template("product_mix", {"products": [{"name": "a", "price": 1}]})
