"""Solve a PuLP problem with CBC or HiGHS and read back a solver-independent outcome.

The two solvers disagree on conventions (HiGHS reports duals of the minimised
negation of a maximisation; CBC reports its proven bound only in its log), so this
module normalises: shadow prices and reduced costs are always "change in the
objective, in the problem's own sense, per unit", and the gap is always
``|objective - bound| / max(|objective|, 1e-9)``.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import pulp
from pulp.apis import coin_api

from backend.services.optimizer.model import BuiltModel
from backend.services.optimizer.types import ConstraintReport, ModelSize, SolveOptions, SolveStatus

_CBC_BOUND = re.compile(r"^(?:Lower|Upper) bound:\s+(\S+)", re.MULTILINE)
_CBC_STOPPED_ON_TIME = "Stopped on time"
_BINDING_RTOL = 1e-6
# The CBC binary bundled with PuLP; COIN_CMD on it avoids the deprecated PULP_CBC_CMD wrapper,
# and with no bundled binary (PuLP 4 with `pulp[cbc]`) COIN_CMD finds cbc on the PATH.
_CBC_PATH: str | None = getattr(coin_api, "pulp_cbc_path", None)
_DUAL_ZERO = 1e-9


@dataclass
class SolveOutcome:
    """Everything read back from one solve, in the problem's own objective sense."""

    status: SolveStatus
    objective: float | None
    best_bound: float | None
    gap: float | None
    solve_seconds: float
    is_mip: bool
    size: ModelSize
    values: dict[str, float] = field(default_factory=dict)
    duals: dict[str, float] = field(default_factory=dict)
    reduced_costs: dict[str, float] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")


def named_constraints(problem: pulp.LpProblem) -> list[tuple[str, pulp.LpConstraint]]:
    """Constraints with their names, in insertion order."""
    return [(c.name, c) for c in problem.constraints()]


def model_size(problem: pulp.LpProblem, variables: list[pulp.LpVariable]) -> ModelSize:
    """The size of a solved problem, from the variables the solver was handed."""
    return ModelSize(
        variables=len(variables),
        integer_variables=sum(1 for v in variables if v.cat == pulp.LpInteger),
        constraints=len(problem.constraints()),
    )


def relative_gap(objective: float, bound: float) -> float:
    """The relative distance between an incumbent and a proven bound."""
    return abs(objective - bound) / max(abs(objective), 1e-9)


def solve_problem(problem: pulp.LpProblem, options: SolveOptions) -> SolveOutcome:
    """Solve ``problem`` in place with the solver named in ``options``."""
    variables = problem.variables()
    is_mip = any(v.cat == pulp.LpInteger for v in variables)
    if options.solver == "highs":
        return _solve_highs(problem, options, is_mip, variables)
    return _solve_cbc(problem, options, is_mip)


def _objective_constant(problem: pulp.LpProblem) -> float:
    # Neither solver sees PuLP's objective constant, so bounds they report need it added back.
    objective = problem.objective
    return float(objective.constant) if objective is not None else 0.0


def _objective_value(problem: pulp.LpProblem) -> float | None:
    value = pulp.value(problem.objective)
    return None if value is None else float(value)


def _solve_cbc(problem: pulp.LpProblem, options: SolveOptions, is_mip: bool) -> SolveOutcome:
    with tempfile.TemporaryDirectory(prefix="dyocense-cbc-") as tmp:
        log_path = Path(tmp) / "cbc.log"
        solver = pulp.COIN_CMD(
            path=_CBC_PATH,
            msg=False,
            timeLimit=options.time_limit_seconds,
            gapRel=options.relative_gap if is_mip else None,
            threads=1,
            logPath=str(log_path),
        )
        started = perf_counter()
        problem.solve(solver)
        elapsed = perf_counter() - started
        log = log_path.read_text(errors="replace") if log_path.exists() else ""

    stopped_on_time = _CBC_STOPPED_ON_TIME in log
    status: SolveStatus
    if problem.status == pulp.LpStatusOptimal:
        feasible_only = problem.sol_status == pulp.LpSolutionIntegerFeasible or stopped_on_time
        status = "feasible" if feasible_only else "optimal"
    elif problem.status == pulp.LpStatusInfeasible:
        status = "infeasible"
    elif problem.status == pulp.LpStatusUnbounded:
        status = "unbounded"
    else:
        status = "time_limit" if stopped_on_time else "not_solved"

    variables = problem.variables()
    outcome = SolveOutcome(status, None, None, None, elapsed, is_mip, model_size(problem, variables))
    if not outcome.has_solution:
        return outcome
    outcome.objective = _objective_value(problem)
    outcome.values = {v.name: float(v.varValue or 0.0) for v in variables}
    if is_mip:
        match = _CBC_BOUND.search(log)
        if match and outcome.objective is not None:
            outcome.best_bound = float(match.group(1)) + _objective_constant(problem)
    else:
        # CBC already reports duals in the problem's own sense.
        outcome.duals = {n: float(c.pi or 0.0) for n, c in named_constraints(problem)}
        outcome.reduced_costs = {v.name: float(v.dj or 0.0) for v in variables}
    _finish_bound(outcome)
    return outcome


def _solve_highs(
    problem: pulp.LpProblem, options: SolveOptions, is_mip: bool, variables: list[pulp.LpVariable]
) -> SolveOutcome:
    import highspy

    from backend.services.optimizer.highs_bridge import load_problem, new_highs, read_solution

    started = perf_counter()
    highs = new_highs()
    if is_mip:
        highs.setOptionValue("mip_rel_gap", options.relative_gap)
    highs.setOptionValue("threads", 1)  # as CBC: the compute pool's workers are the parallelism
    highs.setOptionValue("time_limit", float(options.time_limit_seconds))
    problem.solverModel = highs  # where PuLP's own interface leaves it
    # As PuLP's solve(): a constant objective gets a dummy column fixed at zero.
    was_none, dummy = problem.fixObjective()
    if dummy is not None:
        variables = problem.variables()
    load_problem(highs, problem, variables)
    highs.run()
    model_status = highs.getModelStatus()
    model_status_enum = highspy.HighsModelStatus
    if model_status == model_status_enum.kUnboundedOrInfeasible:
        # Presolve can only tell "one or the other"; the simplex without it tells which.
        highs.setOptionValue("presolve", "off")
        highs.run()
        model_status = highs.getModelStatus()
    read_solution(highs, problem, variables)
    problem.restoreObjective(was_none, dummy)
    elapsed = perf_counter() - started

    info = highs.getInfo()
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    status: SolveStatus
    if model_status == model_status_enum.kOptimal:
        status = "optimal"
    elif model_status == model_status_enum.kInfeasible:
        status = "infeasible"
    elif model_status == model_status_enum.kUnbounded:
        status = "unbounded"
    elif model_status in (
        model_status_enum.kTimeLimit,
        model_status_enum.kIterationLimit,
        model_status_enum.kInterrupt,
        model_status_enum.kSolutionLimit,
        model_status_enum.kObjectiveBound,
        model_status_enum.kObjectiveTarget,
    ):
        status = "feasible" if has_primal else "time_limit"
    else:
        status = "not_solved"

    outcome = SolveOutcome(status, None, None, None, elapsed, is_mip, model_size(problem, variables))
    if not outcome.has_solution:
        return outcome
    outcome.objective = _objective_value(problem)
    outcome.values = {v.name: float(v.varValue or 0.0) for v in variables}
    # HiGHS is handed the negated objective of a maximisation; undo that for bounds and duals.
    flip = -1.0 if problem.sense == pulp.LpMaximize else 1.0
    if is_mip:
        if math.isfinite(info.mip_dual_bound):
            outcome.best_bound = flip * info.mip_dual_bound + _objective_constant(problem)
    else:
        outcome.duals = {n: flip * float(c.pi or 0.0) for n, c in named_constraints(problem)}
        outcome.reduced_costs = {v.name: flip * float(v.dj or 0.0) for v in variables}
    _finish_bound(outcome)
    return outcome


def _finish_bound(outcome: SolveOutcome) -> None:
    if outcome.objective is None:
        return
    if not outcome.is_mip and outcome.status == "optimal":
        outcome.best_bound = outcome.objective
    if outcome.best_bound is not None:
        outcome.gap = relative_gap(outcome.objective, outcome.best_bound)
    elif outcome.status == "optimal":
        outcome.gap = 0.0


def constraint_slack(constraint: pulp.LpConstraint) -> float:
    """Distance of a constraint from its limit at the current variable values (0 for equalities)."""
    activity = float(constraint.value() or 0.0)
    if constraint.sense == pulp.LpConstraintLE:
        return -activity
    if constraint.sense == pulp.LpConstraintGE:
        return activity
    return 0.0


def constraint_reports(built: BuiltModel, outcome: SolveOutcome) -> list[ConstraintReport]:
    """The relaxable constraints that are tight at the solution, largest shadow price first."""
    if not outcome.has_solution:
        return []
    reports: list[ConstraintReport] = []
    for name, constraint in named_constraints(built.problem):
        meta = built.meta.get(name)
        if meta is None or not meta.relaxable or not meta.report_binding:
            continue
        slack = constraint_slack(constraint)
        scale = max(1.0, abs(float(constraint.constant)))
        if slack > _BINDING_RTOL * scale:
            continue
        dual = outcome.duals.get(name) if not outcome.is_mip else None
        if dual is not None and abs(dual) < _DUAL_ZERO:
            dual = 0.0
        reports.append(
            ConstraintReport(
                name=meta.group,
                kind=meta.kind,
                description=meta.description,
                slack=max(slack, 0.0),
                binding=True,
                shadow_price=dual,
            )
        )
    reports.sort(key=lambda r: (-abs(r.shadow_price or 0.0), r.name))
    return reports
