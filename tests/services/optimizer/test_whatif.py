"""What-if: the change language, re-solving, and side-by-side differences."""

from __future__ import annotations

import copy

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import Change, SolveOptions, apply_changes, run_template, run_what_if
from tests.services.optimizer.conftest import close

BUDGET = {
    "total_budget": 250,
    "channels": [
        {
            "name": "a",
            "response_curve": [
                {"spend": 0, "revenue": 0},
                {"spend": 100, "revenue": 300},
                {"spend": 200, "revenue": 400},
            ],
        },
        {
            "name": "b",
            "response_curve": [
                {"spend": 0, "revenue": 0},
                {"spend": 100, "revenue": 200},
                {"spend": 300, "revenue": 300},
            ],
        },
    ],
}

SHIFTS = [{"name": "am", "start_hour": 6, "hours": 8}, {"name": "pm", "start_hour": 16, "hours": 8}]
STAFF = {
    "days": ["mon", "tue"],
    "shifts": SHIFTS,
    "employees": [{"name": "a", "hourly_cost": 10}, {"name": "b", "hourly_cost": 15}],
    "requirements": [{"day": d, "shift": "am", "staff": 1} for d in ("mon", "tue")],
}


def test_budget_plus_ten_percent_goes_to_the_best_remaining_segment(options: SolveOptions) -> None:
    change = Change(path="/total_budget", op="scale", value=1.1, label="budget +10%")
    result = run_what_if("budget_allocation", BUDGET, [change], options)
    # 25 more, all on A's second segment at 1 per unit.
    assert close(result.objective_delta, 25)
    assert close(result.objective_delta_pct, 25 / 550)
    assert [(d.name, d.baseline, d.scenario) for d in result.decision_diffs] == [("spend.a", 150, 175)]
    assert "budget +10%" in result.explanation[0]
    assert "rises from 550 to 575" in result.explanation[1]


def test_removing_monday_availability_moves_the_shift_to_someone_else(options: SolveOptions) -> None:
    change = {"path": "/employees/a/unavailable", "op": "append", "value": {"day": "mon"}}
    result = run_what_if("staffing", STAFF, [change], options)
    assert close(result.baseline.objective, 160) and close(result.scenario.objective, 200)
    moved = {d.name: d.delta for d in result.decision_diffs}
    assert moved == {"shift.a.mon.am": -1.0, "shift.b.mon.am": 1.0}
    assert {d.name for d in result.summary_diffs} >= {"labour_cost", "hours.a", "hours.b"}


def test_one_fewer_staff_member_makes_the_plan_infeasible_and_says_why(options: SolveOptions) -> None:
    params = copy.deepcopy(STAFF)
    params["requirements"][0]["staff"] = 2
    result = run_what_if("staffing", params, [{"path": "/employees/b", "op": "remove"}], options)
    assert result.baseline.status == "optimal" and result.scenario.status == "infeasible"
    assert result.objective_delta is None
    assert any("optimal to infeasible" in s for s in result.explanation)
    assert any("at least 2 staff on mon am" in s for s in result.explanation)


def test_wildcard_with_filter_changes_only_matching_items() -> None:
    params = {
        "products": [
            {"sku": "A1", "unit_cost": 10, "demand_mean": 5, "supplier": "A"},
            {"sku": "B1", "unit_cost": 4, "demand_mean": 5, "supplier": "B"},
        ]
    }
    change = Change(path="/products/*/unit_cost", op="scale", value=1.5, where={"supplier": "B"})
    changed = apply_changes(params, [change])
    assert [p["unit_cost"] for p in changed["products"]] == [10, 6]
    assert params["products"][1]["unit_cost"] == 4, "the input must not be mutated"
    result = run_what_if("inventory", params, [change])
    assert close(result.objective_delta, 5 * 2)
    assert result.decision_diffs == []
    assert "The plan itself does not change." in result.explanation
    assert "where supplier=B" in result.explanation[0]


def test_add_set_and_index_paths() -> None:
    changed = apply_changes(
        BUDGET,
        [
            Change(path="/total_budget", op="add", value=-50),
            Change(path="/channels/1/min_spend", op="set", value=20),
            Change(path="/objective", op="set", value="profit"),
        ],
    )
    assert changed["total_budget"] == 200
    assert changed["channels"][1]["min_spend"] == 20 and changed["objective"] == "profit"


def test_a_stored_baseline_is_not_solved_again() -> None:
    baseline = run_template("budget_allocation", BUDGET)
    result = run_what_if(
        "budget_allocation", BUDGET, [Change(path="/total_budget", op="set", value=300)], None, baseline
    )
    assert result.baseline is baseline
    assert close(result.scenario.objective, 600)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "/channels/zzz/min_spend", "op": "set", "value": 1}, "no item named 'zzz'"),
        ({"path": "/channels/7/min_spend", "op": "set", "value": 1}, "out of range"),
        ({"path": "/total_budget", "op": "scale", "value": "lots"}, "must be a number"),
        ({"path": "/channels/a/name", "op": "append", "value": 1}, "append needs a list"),
        ({"path": "/nothing/here", "op": "set", "value": 1}, "no field 'nothing'"),
        (
            {"path": "/channels/a/min_spend", "op": "set", "value": 1, "where": {"name": "a"}},
            "'where' filters",
        ),
    ],
)
def test_bad_changes_are_validation_errors(change: dict, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message) as caught:
        run_what_if("budget_allocation", BUDGET, [change])
    assert caught.value.context["change_index"] == 0


def test_changes_that_break_the_rules_of_the_template_are_rejected() -> None:
    with pytest.raises(ValidationFailed, match="make the parameters invalid") as caught:
        run_what_if("budget_allocation", BUDGET, [{"path": "/total_budget", "op": "set", "value": -5}])
    assert caught.value.problems[0].path == "/total_budget"
    with pytest.raises(ValidationFailed, match="at least one change"):
        run_what_if("budget_allocation", BUDGET, [])
    with pytest.raises(ValidationFailed, match="invalid change"):
        run_what_if("budget_allocation", BUDGET, [{"path": "total_budget", "op": "set"}])
