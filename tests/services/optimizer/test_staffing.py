"""staffing: hand-computed schedules, brute force over every assignment, conflicts, validation."""

from __future__ import annotations

import itertools
import random

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import SolveOptions, run_template
from tests.services.optimizer.conftest import close, solve_like_brute_force

SHIFTS = [{"name": "am", "start_hour": 6, "hours": 8}, {"name": "pm", "start_hour": 16, "hours": 8}]


def test_cheapest_people_cover_each_shift(options: SolveOptions) -> None:
    params = {
        "days": ["mon"],
        "shifts": SHIFTS,
        "employees": [
            {"name": "a", "hourly_cost": 10},
            {"name": "b", "hourly_cost": 12},
            {"name": "c", "hourly_cost": 20, "skills": ["key"]},
        ],
        "requirements": [
            {"day": "mon", "shift": "am", "staff": 1},
            {"day": "mon", "shift": "pm", "staff": 1},
        ],
    }
    result = run_template("staffing", params, options)
    assert result.status == "optimal"
    assert close(result.objective, (10 + 12) * 8)
    # A key holder in the morning: c (160) takes am, a (80) takes pm.
    params["requirements"].append({"day": "mon", "shift": "am", "staff": 1, "skill": "key"})
    result = run_template("staffing", params, options)
    assert close(result.objective, 240)
    assert result.decisions == {"shift.c.mon.am": 1.0, "shift.a.mon.pm": 1.0}
    assert close(result.summary["hours.c"], 8)


def test_minimum_hours_and_rest_rules_shape_the_schedule(options: SolveOptions) -> None:
    params = {
        "days": ["mon", "tue"],
        "shifts": SHIFTS,
        "employees": [{"name": "a", "hourly_cost": 10}, {"name": "b", "hourly_cost": 30, "min_hours": 8}],
        "requirements": [
            {"day": "mon", "shift": "pm", "staff": 1},
            {"day": "tue", "shift": "am", "staff": 1},
        ],
        "min_rest_hours": 8,
    }
    # a cannot work mon pm (ends 24:00) then tue am (starts 06:00) with 8 h rest; b must work 8 h anyway.
    result = run_template("staffing", params, options)
    assert close(result.objective, 80 + 240)
    assert {b.name for b in result.binding_constraints} >= {"min_hours[b]"}


def test_unavailability_against_coverage_is_named(options: SolveOptions) -> None:
    params = {
        "days": ["mon", "tue"],
        "shifts": SHIFTS,
        "employees": [
            {"name": "a", "hourly_cost": 10, "max_hours": 40},
            {"name": "b", "hourly_cost": 12, "unavailable": [{"day": "mon"}]},
        ],
        "requirements": [
            {"day": "mon", "shift": "am", "staff": 2},
            {"day": "tue", "shift": "am", "staff": 1},
        ],
    }
    result = run_template("staffing", params, options)
    assert result.status == "infeasible"
    assert result.conflict is not None and result.conflict.minimal
    assert {g.group for g in result.conflict.groups} == {"coverage[mon.am]", "availability[b]"}
    text = " ".join(result.explanation)
    assert "at least 2 staff on mon am" in text and "b is unavailable on mon (all day)" in text


def _feasible(params: dict, assignment: dict[tuple[str, str, str], int]) -> bool:
    days, shifts = params["days"], {s["name"]: s for s in params["shifts"]}
    for req in params["requirements"]:
        staff = sum(
            assignment[e["name"], req["day"], req["shift"]]
            for e in params["employees"]
            if req.get("skill") is None or req["skill"] in e.get("skills", [])
        )
        if staff < req["staff"]:
            return False
    for emp in params["employees"]:
        mine = [(d, s) for (n, d, s), v in assignment.items() if n == emp["name"] and v]
        for off in emp.get("unavailable", []):
            if any(d == off["day"] and off.get("shift") in (None, s) for d, s in mine):
                return False
        hours = sum(shifts[s]["hours"] for _, s in mine)
        if hours < emp.get("min_hours", 0) or hours > emp.get("max_hours", float("inf")):
            return False
        if any(sum(1 for d, _ in mine if d == day) > params["max_shifts_per_day"] for day in days):
            return False
        times = sorted(
            (
                days.index(d) * 24 + shifts[s]["start_hour"],
                days.index(d) * 24 + shifts[s]["start_hour"] + shifts[s]["hours"],
            )
            for d, s in mine
        )
        if any(
            nxt[0] - cur[1] < max(params["min_rest_hours"], 0) or nxt[0] < cur[1]
            for cur, nxt in itertools.pairwise(times)
        ):
            return False
        worked = [any(d == day for d, _ in mine) for day in days]
        limit = params.get("max_consecutive_days")
        if limit is not None and any(all(worked[i : i + limit + 1]) for i in range(len(days) - limit)):
            return False
    return True


@pytest.mark.parametrize("seed", range(10))
def test_matches_exhaustive_search_over_all_schedules(options: SolveOptions, seed: int) -> None:
    rng = random.Random(200 + seed)
    days = ["d1", "d2"]
    employees = []
    for index in range(3):
        employee: dict = {"name": f"e{index}", "hourly_cost": rng.choice([10, 11, 13, 17])}
        if rng.random() < 0.4:
            employee["skills"] = ["lead"]
        if rng.random() < 0.3:
            employee["unavailable"] = [{"day": rng.choice(days), "shift": rng.choice([None, "am", "pm"])}]
        if rng.random() < 0.3:
            employee["min_hours"] = 8
        if rng.random() < 0.5:
            employee["max_hours"] = rng.choice([8, 16, 24])
        employees.append(employee)
    requirements = [
        {"day": d, "shift": s, "staff": rng.choice([1, 1, 2])}
        for d in days
        for s in ("am", "pm")
        if rng.random() < 0.8
    ] or [{"day": "d1", "shift": "am", "staff": 1}]
    if rng.random() < 0.5:
        requirements.append({"day": rng.choice(days), "shift": "am", "staff": 1, "skill": "lead"})
    params = {
        "days": days,
        "shifts": SHIFTS,
        "employees": employees,
        "requirements": requirements,
        "max_shifts_per_day": rng.choice([1, 2, 2]),
        "min_rest_hours": rng.choice([0, 0, 8]),
        "max_consecutive_days": rng.choice([None, None, 1]),
    }
    slots = [(e["name"], d, s["name"]) for e in employees for d in days for s in SHIFTS]
    hours = {s["name"]: s["hours"] for s in SHIFTS}
    cost_of = {e["name"]: e["hourly_cost"] for e in employees}
    best = None
    for bits in itertools.product((0, 1), repeat=len(slots)):
        assignment = dict(zip(slots, bits, strict=True))
        cost = sum(cost_of[n] * hours[s] for (n, _, s), v in assignment.items() if v)
        if (best is None or cost < best) and _feasible(params, assignment):
            best = cost

    result = solve_like_brute_force("staffing", params, options, best)
    if best is not None:
        chosen = {key: 0 for key in slots}
        for name in result.decisions:
            _, emp, day, shift = name.split(".")
            chosen[emp, day, shift] = 1
        assert _feasible(params, chosen), "the solver's schedule breaks a rule the brute force checks"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"requirements": [{"day": "sun", "shift": "am", "staff": 1}]}, "unknown day"),
        (
            {"employees": [{"name": "a", "hourly_cost": 1, "min_hours": 9, "max_hours": 8}]},
            "min_hours exceeds",
        ),
        (
            {"employees": [{"name": "a", "hourly_cost": 1, "unavailable": [{"day": "mon", "shift": "x"}]}]},
            "unknown",
        ),
        ({"shifts": [SHIFTS[0], SHIFTS[0]]}, "unique"),
    ],
)
def test_invalid_schedules_are_rejected(change: dict, message: str) -> None:
    params = {
        "days": ["mon"],
        "shifts": SHIFTS,
        "employees": [{"name": "a", "hourly_cost": 1}],
        "requirements": [{"day": "mon", "shift": "am", "staff": 1}],
    } | change
    with pytest.raises(ValidationFailed, match=message):
        run_template("staffing", params)
