"""Explain an infeasible model by finding a small set of constraint groups that conflict.

A deletion filter (Chinneck's method) run at two levels: first over constraint
*kinds* (all channel minimums, the budget, …), then over the individual *groups*
inside the kinds that survived (the minimum for one channel, …). A group is dropped
for good only when the model is still infeasible without it, so the kept set stays
infeasible throughout; a check the solver cannot settle in time keeps its group, which
costs minimality but never correctness.
"""

from __future__ import annotations

from time import perf_counter

import pulp

from backend.services.optimizer.model import BuiltModel
from backend.services.optimizer.solve import named_constraints, solve_problem
from backend.services.optimizer.types import ConflictGroup, ConflictReport, SolveOptions

_MAX_CHECKS = 80
_CHECK_SECONDS_CAP = 5.0


class _Checker:
    """Feasibility checks of the model restricted to some groups, with a budget."""

    def __init__(self, built: BuiltModel, options: SolveOptions) -> None:
        self.built = built
        remaining = options.time_limit_seconds
        self.deadline = perf_counter() + remaining
        self.options = options.model_copy(
            update={"time_limit_seconds": min(_CHECK_SECONDS_CAP, remaining), "relative_gap": 0.5}
        )
        self.checks = 0
        self.inconclusive = False

    @property
    def exhausted(self) -> bool:
        return self.checks >= _MAX_CHECKS or perf_counter() >= self.deadline

    def infeasible_with(self, groups: set[str]) -> bool:
        """True only when the solver proves infeasibility with just these groups (plus structure)."""
        if self.exhausted:
            self.inconclusive = True
            return False
        self.checks += 1
        problem = pulp.LpProblem("conflict_check", pulp.LpMinimize)
        # The objective is irrelevant to feasibility; a zero objective lets the solver stop early.
        problem.setObjective(pulp.LpAffineExpression())
        for name, constraint in named_constraints(self.built.problem):
            meta = self.built.meta.get(name)
            if meta is None or not meta.relaxable or meta.group in groups:
                problem.addConstraint(constraint.copy(), name)
        outcome = solve_problem(problem, self.options)
        if outcome.status in ("infeasible",):
            return True
        if not outcome.has_solution and outcome.status != "unbounded":
            self.inconclusive = True
        return False


def find_conflict(built: BuiltModel, options: SolveOptions) -> ConflictReport | None:
    """A small set of relaxable constraint groups that cannot all be satisfied together.

    Returns ``None`` when the model is infeasible even with every relaxable group
    removed (then the conflict lies in the structure itself, which validated
    template inputs should never produce) or when no check could prove infeasibility.
    """
    checker = _Checker(built, options)
    kind_groups: dict[str, list[str]] = {}
    descriptions: dict[str, tuple[str, str]] = {}
    for meta in built.meta.values():
        if not meta.relaxable:
            continue
        if meta.group not in descriptions:
            kind_groups.setdefault(meta.kind, []).append(meta.group)
            descriptions[meta.group] = (meta.kind, meta.description)
    if not descriptions or checker.infeasible_with(set()):
        return None

    kept_kinds = list(kind_groups)
    for kind in list(kept_kinds):
        trial = {g for k in kept_kinds if k != kind for g in kind_groups[k]}
        if checker.infeasible_with(trial):
            kept_kinds.remove(kind)

    kept = [g for k in kept_kinds for g in kind_groups[k]]
    for group in list(kept):
        if checker.exhausted:
            checker.inconclusive = True
            break
        trial = set(kept) - {group}
        if checker.infeasible_with(trial):
            kept.remove(group)

    return ConflictReport(
        groups=[
            ConflictGroup(group=g, kind=descriptions[g][0], description=descriptions[g][1]) for g in kept
        ],
        minimal=not checker.inconclusive,
        checks=checker.checks,
    )
