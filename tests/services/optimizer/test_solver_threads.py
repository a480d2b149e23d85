"""Solvers run single-threaded: the compute pool's worker processes are the parallelism."""

from __future__ import annotations

import pulp

from backend.services.optimizer import SolveOptions
from backend.services.optimizer.solve import solve_problem


def test_highs_solves_with_one_thread() -> None:
    problem = pulp.LpProblem("threads", pulp.LpMaximize)
    x = problem.add_variable("x", 0, 3)
    problem += x
    problem += x <= 2
    outcome = solve_problem(problem, SolveOptions(solver="highs"))
    assert outcome.status == "optimal"
    _status, threads = problem.solverModel.getOptionValue("threads")
    assert threads == 1
