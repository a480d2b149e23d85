"""Hand a PuLP problem to HiGHS in bulk and read the solution back in bulk.

PuLP's own HiGHS interface adds one column and one row per call and rescans every
constraint for its variables several times per solve; at the templates' sizes that
cost more than the solve itself. This passes the very same LP — PuLP's column order
(``problem.variables()``, sorted by name), the rows in insertion order, zero
coefficients dropped, a maximisation as the minimisation of its negation, the
objective constant left out — as arrays in two calls, and writes values, reduced
costs, slacks and duals back onto the PuLP objects as PuLP's interface does.
"""

from __future__ import annotations

from collections.abc import Sequence

import highspy
import numpy as np
import pulp

_INF = highspy.kHighsInf


def new_highs() -> highspy.Highs:
    """A fresh, silent HiGHS instance."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


def _bound(value: float | None, missing: float) -> float:
    return missing if value is None else float(value)


def load_problem(highs: highspy.Highs, problem: pulp.LpProblem, variables: Sequence[pulp.LpVariable]) -> None:
    """Add ``variables`` as columns and the problem's constraints as rows of ``highs``."""
    sign = -1.0 if problem.sense == pulp.LpMaximize else 1.0
    objective = problem.objective if problem.objective is not None else {}
    position = {var: index for index, var in enumerate(variables)}
    highs.addCols(
        len(variables),
        np.fromiter((sign * objective.get(v, 0.0) for v in variables), np.float64, len(variables)),
        np.fromiter((_bound(v.lowBound, -_INF) for v in variables), np.float64, len(variables)),
        np.fromiter((_bound(v.upBound, _INF) for v in variables), np.float64, len(variables)),
        0,
        np.empty(0, np.int32),
        np.empty(0, np.int32),
        np.empty(0, np.float64),
    )
    integer = np.fromiter((i for i, v in enumerate(variables) if v.cat == pulp.LpInteger), np.int32)
    if integer.size:
        kinds = np.full(integer.size, int(highspy.HighsVarType.kInteger), np.uint8)
        highs.changeColsIntegrality(integer.size, integer, kinds)

    constraints = problem.constraints()
    starts: list[int] = []
    indices: list[int] = []
    values: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    for constraint in constraints:
        starts.append(len(indices))
        lower.append(_bound(constraint.getLb(), -_INF))
        upper.append(_bound(constraint.getUb(), _INF))
        for var, coefficient in constraint.expr.items():
            if coefficient != 0:
                indices.append(position[var])
                values.append(coefficient)
    highs.addRows(
        len(constraints),
        np.array(lower, np.float64),
        np.array(upper, np.float64),
        len(indices),
        np.array(starts, np.int32),
        np.array(indices, np.int32),
        np.array(values, np.float64),
    )


def read_solution(
    highs: highspy.Highs, problem: pulp.LpProblem, variables: Sequence[pulp.LpVariable]
) -> None:
    """Set ``varValue``/``dj`` on the variables and ``slack``/``pi`` on the constraints."""
    solution = highs.getSolution()
    if len(solution.col_value) != len(variables):
        return  # no solution to read (HiGHS stopped before it had one)
    for var, value, dual in zip(variables, solution.col_value, solution.col_dual, strict=True):
        var.varValue = value
        var.dj = dual
    constraints = problem.constraints()
    for constraint, activity, dual in zip(constraints, solution.row_value, solution.row_dual, strict=True):
        # As PuLP: the constant sits on the left-hand side; a <= row's slack is the negation.
        slack = constraint.constant + activity
        constraint.slack = -slack if constraint.sense == pulp.LpConstraintLE else slack
        constraint.pi = dual
