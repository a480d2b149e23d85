"""The bulk HiGHS handover solves the very model PuLP's own HiGHS interface solves."""

from __future__ import annotations

import random

import pulp
import pytest

from backend.services.optimizer import SolveOptions
from backend.services.optimizer.solve import solve_problem


def _problem(seed: int, sense: int, integer: bool) -> pulp.LpProblem:
    """A random bounded model with <=, >= and = rows, zero coefficients and an objective constant.

    Every row holds at a random whole point, so the model is feasible.
    """
    rng = random.Random(seed)
    problem = pulp.LpProblem(f"bridge_{seed}", sense)
    cat = pulp.LpInteger if integer else pulp.LpContinuous
    xs = [problem.add_variable(f"x{i}", 0, rng.choice([None, 10, 25]), cat=cat) for i in range(12)]
    point = {x: rng.randint(0, 5) for x in xs}
    problem += pulp.lpSum(rng.uniform(-3, 5) * x for x in xs) + 7.5
    for index in range(9):
        terms = [(x, rng.choice([0, 1, 2.5, -1])) for x in rng.sample(xs, 5)]
        expression = pulp.lpSum(a * x for x, a in terms)
        at_point = sum(a * point[x] for x, a in terms)
        kind = index % 3
        if kind == 0:
            problem += expression <= at_point + rng.uniform(0, 9), f"le{index}"
        elif kind == 1:
            problem += expression >= at_point - rng.uniform(0, 9), f"ge{index}"
        else:
            problem += expression == at_point, f"eq{index}"
    problem += pulp.lpSum(xs) <= 80, "total"
    return problem


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sense", [pulp.LpMaximize, pulp.LpMinimize])
def test_same_solution_as_pulps_highs_interface(seed: int, sense: int) -> None:
    for integer in (False, True):
        ours = _problem(seed, sense, integer)
        outcome = solve_problem(ours, SolveOptions(solver="highs"))
        theirs = _problem(seed, sense, integer)
        theirs.solve(pulp.HiGHS(msg=False, threads=1))

        assert outcome.status == "optimal"
        assert theirs.status == pulp.LpStatusOptimal
        assert outcome.objective == pytest.approx(pulp.value(theirs.objective), rel=1e-9)
        reference = {v.name: v.varValue for v in theirs.variables()}
        assert outcome.values == pytest.approx(reference, abs=1e-9)
        if not integer:
            flip = -1.0 if sense == pulp.LpMaximize else 1.0
            duals = {c.name: flip * (c.pi or 0.0) for c in theirs.constraints()}
            assert outcome.duals == pytest.approx(duals, abs=1e-9)
            slacks = {c.name: c.slack for c in theirs.constraints()}
            assert {c.name: c.slack for c in ours.constraints()} == pytest.approx(slacks, abs=1e-9)


def test_constant_objective_gets_pulps_dummy_column() -> None:
    """With nothing to optimise the model still has a column, so HiGHS reports feasibility, not 'empty'."""
    problem = pulp.LpProblem("feasibility", pulp.LpMinimize)
    problem.setObjective(pulp.LpAffineExpression())
    problem += pulp.LpAffineExpression() >= -1, "trivially_true"
    outcome = solve_problem(problem, SolveOptions(solver="highs"))
    assert outcome.status == "optimal"

    impossible = pulp.LpProblem("infeasible", pulp.LpMinimize)
    impossible.setObjective(pulp.LpAffineExpression())
    impossible += pulp.LpAffineExpression() >= 2, "never"
    assert solve_problem(impossible, SolveOptions(solver="highs")).status == "infeasible"
