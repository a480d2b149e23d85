"""budget_allocation: hand-computed answers, brute force on a grid, conflicts and validation."""

from __future__ import annotations

import itertools
import random

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import SolveOptions, run_template
from tests.services.optimizer.conftest import close, solve_like_brute_force


def _channel(name: str, points: list[tuple[float, float]], **extra: float) -> dict:
    return {"name": name, "response_curve": [{"spend": s, "revenue": r} for s, r in points], **extra}


# A: slopes 3 then 1; B: slopes 2 then 0.5.
CURVE_A = [(0, 0), (100, 300), (200, 400)]
CURVE_B = [(0, 0), (100, 200), (300, 300)]


def test_revenue_goes_to_steepest_segments_first(options: SolveOptions) -> None:
    params = {"total_budget": 250, "channels": [_channel("a", CURVE_A), _channel("b", CURVE_B)]}
    result = run_template("budget_allocation", params, options)
    # 100 on A (x3) + 100 on B (x2) + 50 more on A (x1) = 300 + 200 + 50.
    assert result.status == "optimal"
    assert close(result.objective, 550)
    assert close(result.decisions["spend.a"], 150) and close(result.decisions["spend.b"], 100)
    budget = next(b for b in result.binding_constraints if b.name == "total_budget")
    assert close(budget.shadow_price, 1.0), "one more unit of budget buys one more unit on A's second segment"
    assert close(result.summary["expected_revenue"], 550)


def test_profit_objective_stops_where_returns_fall_below_cost(options: SolveOptions) -> None:
    params = {
        "total_budget": 1000,
        "objective": "profit",
        "gross_margin": 0.5,
        "channels": [_channel("a", CURVE_A), _channel("b", CURVE_B)],
    }
    result = run_template("budget_allocation", params, options)
    # With margin 0.5 only A's first segment (0.5 x 3 = 1.5 > 1) pays: profit 150 - 100 = 50.
    assert result.status == "optimal"
    assert close(result.objective, 50)
    assert close(result.decisions["spend.a"], 100) and close(result.decisions["spend.b"], 0)
    assert close(result.summary["unspent_budget"], 900)
    assert any("unspent" in s for s in result.explanation)


def test_minimum_spend_forces_money_into_a_weaker_channel(options: SolveOptions) -> None:
    params = {
        "total_budget": 250,
        "channels": [_channel("a", CURVE_A), _channel("b", CURVE_B, min_spend=250)],
    }
    result = run_template("budget_allocation", params, options)
    assert close(result.objective, 275)  # B: 200 + 150 x 0.5
    minimum = next(b for b in result.binding_constraints if b.name == "min_spend[b]")
    # Forcing one more unit into B (slope 0.5) instead of A (slope 3) costs 2.5.
    assert close(minimum.shadow_price, -2.5)


def test_conflicting_minimums_and_budget_are_named(options: SolveOptions) -> None:
    params = {
        "total_budget": 300,
        "channels": [
            _channel("a", CURVE_A, min_spend=200),
            _channel("b", CURVE_B, min_spend=150),
            _channel("c", CURVE_B, max_spend=50),
        ],
    }
    result = run_template("budget_allocation", params, options)
    assert result.status == "infeasible"
    assert result.conflict is not None and result.conflict.minimal
    assert {g.group for g in result.conflict.groups} == {"total_budget", "min_spend[a]", "min_spend[b]"}
    assert any("total budget of 300" in s for s in result.explanation)


def _revenue(points: list[tuple[float, float]], spend: float) -> float:
    for (s0, r0), (s1, r1) in itertools.pairwise(points):
        if spend <= s1:
            return r0 + (r1 - r0) * (spend - s0) / (s1 - s0)
    return points[-1][1]


@pytest.mark.parametrize("seed", range(8))
def test_matches_exhaustive_search_on_a_grid(options: SolveOptions, seed: int) -> None:
    # Every breakpoint, bound and the budget are multiples of 10 and the constraint matrix is
    # an interval matrix, so an optimal vertex lies on the 10-grid: enumerating it is exhaustive.
    rng = random.Random(seed)
    channels, curves, bounds = [], [], []
    for index in range(3):
        slopes = sorted((rng.uniform(-1, 5) for _ in range(rng.randint(1, 3))), reverse=True)
        points, spend, revenue = [(0.0, rng.uniform(0, 50))], 0.0, 0.0
        revenue = points[0][1]
        for slope in slopes:
            length = rng.choice([10, 20, 30])
            spend, revenue = spend + length, revenue + slope * length
            points.append((spend, revenue))
        low = rng.choice([0, 0, 10]) if spend >= 10 else 0
        high = rng.choice([None, spend - 10 if spend - 10 >= low else None])
        extra = {"min_spend": low} | ({"max_spend": high} if high is not None else {})
        channels.append(_channel(f"c{index}", points, **extra))
        curves.append(points)
        bounds.append((low, spend if high is None else high))
    budget = rng.choice([20, 40, 60, 80])
    objective, margin = rng.choice(["revenue", "profit"]), rng.choice([1.0, 0.6])
    exact = rng.random() < 0.3
    params = {
        "total_budget": budget,
        "objective": objective,
        "gross_margin": margin,
        "spend_entire_budget": exact,
        "channels": channels,
    }

    best = None
    grids = [range(int(lo), int(hi) + 1, 10) for lo, hi in bounds]
    for spends in itertools.product(*grids):
        total = sum(spends)
        if total > budget or (exact and total != budget):
            continue
        revenue = sum(_revenue(c, s) for c, s in zip(curves, spends, strict=True))
        value = revenue if objective == "revenue" else margin * revenue - total
        best = value if best is None else max(best, value)

    solve_like_brute_force("budget_allocation", params, options, best)


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        (_channel("x", [(0, 0), (10, 10), (20, 30)]), "returns must diminish"),
        (_channel("x", [(5, 0), (10, 10)]), "must start at spend 0"),
        (_channel("x", [(0, 0), (10, 10)], max_spend=20), "beyond the curve"),
        (_channel("x", [(0, 0), (10, 10), (10, 12)]), "strictly increase"),
        (_channel("x", [(0, 0), (10, 10)], min_spend=15), "exceeds its maximum"),
    ],
)
def test_invalid_curves_are_rejected_with_a_reason(channel: dict, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run_template("budget_allocation", {"total_budget": 10, "channels": [channel]})
    assert message in caught.value.message
    assert caught.value.status == 422
    assert caught.value.problems[0].path.startswith("/channels/0")


def test_missing_budget_and_duplicate_channels_are_rejected() -> None:
    with pytest.raises(ValidationFailed) as caught:
        run_template("budget_allocation", {"channels": [_channel("a", CURVE_A)]})
    assert caught.value.problems[0].path == "/total_budget"
    with pytest.raises(ValidationFailed, match="unique"):
        run_template("budget_allocation", {"total_budget": 5, "channels": [_channel("a", CURVE_A)] * 2})
