"""The built model a template hands to the solver: a PuLP problem plus the names people use.

Every constraint a template adds goes through :meth:`BuiltModel.add`, which records
its *kind* (e.g. ``channel_minimum``), its *group* (the unit the infeasibility search
relaxes, e.g. ``min_spend[search]``) and a sentence describing it with its numbers.
Structural constraints (definitions that only link variables) are not relaxable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import pulp

from backend.services.optimizer.types import ObjectiveSense

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_]")


@cache
def _safe_kind(kind: str) -> str:
    return _UNSAFE_NAME.sub("_", kind)


def linear(terms: Iterable[tuple[pulp.LpVariable, float]], constant: float = 0.0) -> pulp.LpAffineExpression:
    """``sum(coefficient * variable) + constant`` as one expression, built in a single pass.

    The same expression PuLP's operators build (``lpSum(c * v for ...)``), without the
    intermediate expression and copy they make per term: as ``0 * v`` does, a zero
    coefficient leaves its variable out, and a repeated variable's coefficients add up.
    """
    coefficients: dict[pulp.LpVariable, float] = {}
    for var, coefficient in terms:
        if coefficient != 0:
            coefficients[var] = coefficients[var] + coefficient if var in coefficients else coefficient
    return pulp.LpAffineExpression(coefficients, constant)


@dataclass(frozen=True)
class ConstraintMeta:
    """What a constraint means to a person, and whether the conflict search may drop it."""

    kind: str
    group: str
    description: str
    relaxable: bool = True
    # Rules like "nobody works when unavailable" are always tight at zero; listing
    # them as binding would drown the constraints that actually shape the plan.
    report_binding: bool = True


@dataclass
class BuiltModel:
    """A solvable problem with its decision variables and constraint meanings."""

    problem: pulp.LpProblem
    objective_label: str
    decisions: dict[str, pulp.LpVariable] = field(default_factory=dict)
    meta: dict[str, ConstraintMeta] = field(default_factory=dict)

    @classmethod
    def create(cls, name: str, sense: ObjectiveSense, objective_label: str) -> BuiltModel:
        """Start an empty model to be filled by a template builder."""
        pulp_sense = pulp.LpMaximize if sense == "maximize" else pulp.LpMinimize
        return cls(problem=pulp.LpProblem(name, pulp_sense), objective_label=objective_label)

    @property
    def sense(self) -> ObjectiveSense:
        return "maximize" if self.problem.sense == pulp.LpMaximize else "minimize"

    @property
    def is_mip(self) -> bool:
        return any(v.cat == pulp.LpInteger for v in self.problem.variables())

    def variable(
        self,
        decision: str | None,
        low: float | None = 0.0,
        high: float | None = None,
        *,
        integer: bool = False,
        binary: bool = False,
    ) -> pulp.LpVariable:
        """Create a variable; when ``decision`` is given it is reported in the result under that name."""
        # PuLP mangles names it dislikes, so solver-facing names are positional and
        # the readable name lives only in ``decisions``.
        var_name = f"v{len(self._all_vars)}"
        if binary:
            var = self.problem.add_variable(var_name, 0, 1, cat=pulp.LpBinary)
        else:
            cat = pulp.LpInteger if integer else pulp.LpContinuous
            var = self.problem.add_variable(var_name, low, high, cat=cat)
        self._all_vars.append(var)
        if decision is not None:
            if decision in self.decisions:
                raise ValueError(f"duplicate decision name {decision!r}")
            self.decisions[decision] = var
        return var

    def add(self, constraint: pulp.LpConstraint, meta: ConstraintMeta) -> str:
        """Add a constraint with its meaning; returns the solver-facing name."""
        name = f"c{len(self.meta)}_{_safe_kind(meta.kind)}"
        self.problem.addConstraint(constraint, name)
        self.meta[name] = meta
        return name

    def structural(self, constraint: pulp.LpConstraint, kind: str, description: str) -> str:
        """Add a defining constraint the conflict search must never drop."""
        return self.add(constraint, ConstraintMeta(kind, kind, description, relaxable=False))

    def __post_init__(self) -> None:
        self._all_vars: list[pulp.LpVariable] = []
