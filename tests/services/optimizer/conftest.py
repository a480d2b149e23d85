"""Shared fixtures: every solver-facing test runs once per solver."""

from __future__ import annotations

import os
from typing import Any

import pytest

from backend.services.optimizer import run_template
from backend.services.optimizer.types import SolveOptions

# The machine is shared; keep native libraries single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

SOLVERS = ["cbc", "highs"]


@pytest.fixture(params=SOLVERS)
def options(request: pytest.FixtureRequest) -> SolveOptions:
    return SolveOptions(solver=request.param, time_limit_seconds=20)


def close(a: float | None, b: float, rel: float = 1e-6, abs_: float = 1e-6) -> bool:
    """Objective equality up to solver tolerances."""
    return a is not None and abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def solve_like_brute_force(template: str, params: Any, options: SolveOptions, best: float | None) -> Any:
    """Run ``template``: it must agree with an exhaustive search that found ``best`` (None: infeasible)."""
    result = run_template(template, params, options)
    if best is None:
        assert result.status == "infeasible"
    else:
        assert result.status == "optimal"
        assert close(result.objective, best), (result.objective, best, result.decisions)
    return result
