"""Which scenario changes a question asks for (the optimizer agent's what-if)."""

from __future__ import annotations

import pytest

from backend.agents.optimizer import what_if_changes


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What if demand is 20% higher?", [("/products/*/demand_mean", 1.2)]),
        ("what if we cut the budget by 10%", [("/budget", 0.9)]),
        ("Suppose demand drops 15%", [("/products/*/demand_mean", 0.85)]),
        (
            "What if the budget is -5%, and demand +30%?",
            [("/budget", 0.95), ("/products/*/demand_mean", 1.3)],
        ),
        ("Plan my reorders for next week", []),
        ("Demand was 20% higher last month", []),
    ],
)
def test_scenario_changes_from_the_question(question: str, expected: list[tuple[str, float]]) -> None:
    changes, skipped = what_if_changes(question, {}, has_budget=True)
    assert [(c.path, pytest.approx(c.value)) for c in changes] == expected
    assert skipped == []


def test_model_arguments_win_and_a_missing_budget_is_reported() -> None:
    changes, skipped = what_if_changes(
        "what if demand is 90% higher",
        {"what_if_budget_percent": 10, "what_if_demand_percent": -20},
        has_budget=False,
    )
    assert [(c.path, c.value) for c in changes] == [("/products/*/demand_mean", pytest.approx(0.8))]
    assert len(skipped) == 1 and "budget" in skipped[0]
