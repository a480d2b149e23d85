"""The raw-model path: read an MPS file into a PuLP problem and solve it with either solver.

PuLP's own MPS reader ignores RANGES and objective offsets and reads an ``MI`` bound
as an upper bound of 0, so this module carries a small reader of its own that follows
the common (CPLEX/HiGHS) reading of the format: free-form whitespace-separated
fields (names without spaces), ``MARKER`` integer sections whose columns default to
``[0, inf)``, ``RHS`` on the objective row as minus the objective constant, and
``OBJSENSE``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import pulp

from backend.services.errors import ValidationFailed
from backend.services.optimizer.solve import solve_problem
from backend.services.optimizer.types import RawSolveResult, SolveOptions, Timings

_SECTIONS = {
    "NAME",
    "ROWS",
    "COLUMNS",
    "RHS",
    "RANGES",
    "BOUNDS",
    "ENDATA",
    "OBJSENSE",
    "OBJSENSE MAX",
    "OBJSENSE MIN",
}


@dataclass
class _Column:
    integer: bool
    low: float | None = 0.0
    high: float | None = None
    objective: float = 0.0
    entries: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class MpsModel:
    """A problem read from MPS, with the file's own column names."""

    name: str
    problem: pulp.LpProblem
    column_names: dict[str, str]  # solver-facing name -> name in the file


def _fail(line_no: int, message: str) -> ValidationFailed:
    return ValidationFailed(f"MPS line {line_no}: {message}", context={"line": line_no})


def _set_bound(column: _Column, kind: str, value: float | None, line_no: int) -> None:
    if kind in ("UP", "UI"):
        if value is None:
            raise _fail(line_no, f"bound {kind} needs a value")
        # CPLEX convention: a negative upper bound on a column still at its default lower bound frees it.
        if value < 0 and column.low == 0.0:
            column.low = None
        column.high = value
    elif kind in ("LO", "LI"):
        column.low = value
    elif kind == "FX":
        column.low = column.high = value
    elif kind == "FR":
        column.low = column.high = None
    elif kind == "MI":
        column.low = None
    elif kind == "PL":
        column.high = None
    elif kind == "BV":
        column.integer, column.low, column.high = True, 0.0, 1.0
    else:
        raise _fail(line_no, f"unsupported bound type {kind}")
    if kind in ("LI", "UI"):
        column.integer = True


_ROW_SENSES = {"L": pulp.LpConstraintLE, "G": pulp.LpConstraintGE, "E": pulp.LpConstraintEQ}


def _sense_of(word: str) -> int:
    sense: int = pulp.LpMaximize if word.upper().startswith("MAX") else pulp.LpMinimize
    return sense


@dataclass
class _Reader:
    """The state of one MPS read: the current section and what the sections so far declared."""

    name: str = "model"
    section: str = ""
    sense: int = pulp.LpMinimize
    objective_row: str | None = None
    row_sense: dict[str, int] = field(default_factory=dict)
    rhs: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, float] = field(default_factory=dict)
    columns: dict[str, _Column] = field(default_factory=dict)
    integer_marker: bool = False

    def header(self, fields: list[str], line_no: int) -> bool:
        """Enter the section a header line names; False at ENDATA (the end of the model)."""
        self.section = fields[0]
        if self.section == "NAME":
            self.name = fields[1] if len(fields) > 1 else self.name
        elif self.section == "OBJSENSE" and len(fields) > 1:
            self.sense = _sense_of(fields[1])
        elif self.section == "ENDATA":
            return False
        elif self.section not in _SECTIONS:
            raise _fail(line_no, f"unknown section {self.section}")
        return True

    def entry(self, fields: list[str], line_no: int) -> None:
        """Read one data line of the current section."""
        if self.section == "OBJSENSE":
            self.sense = _sense_of(fields[0])
        elif self.section == "ROWS":
            self._row(fields, line_no)
        elif self.section == "COLUMNS":
            self._column(fields)
        elif self.section in ("RHS", "RANGES"):
            self._values(fields, self.rhs if self.section == "RHS" else self.ranges)
        elif self.section == "BOUNDS":
            self._bound(fields, line_no)

    def _row(self, fields: list[str], line_no: int) -> None:
        kind, row = fields[0].upper(), fields[1]
        if kind == "N":
            self.objective_row = self.objective_row or row
        elif kind in _ROW_SENSES:
            self.row_sense[row] = _ROW_SENSES[kind]
        else:
            raise _fail(line_no, f"unknown row type {kind}")

    def _column(self, fields: list[str]) -> None:
        if len(fields) >= 3 and fields[1] == "'MARKER'":
            self.integer_marker = fields[2] == "'INTORG'"
            return
        column = self.columns.setdefault(fields[0], _Column(integer=self.integer_marker))
        for row, value in zip(fields[1::2], fields[2::2], strict=False):
            if row == self.objective_row:
                column.objective += float(value)
            elif row in self.row_sense:
                column.entries.append((row, float(value)))
            # Coefficients on extra N rows are free rows: ignored, as every solver does.

    @staticmethod
    def _values(fields: list[str], target: dict[str, float]) -> None:
        # The first field (the vector name) is optional in free MPS.
        pairs = fields[1:] if len(fields) % 2 == 1 else fields
        for row, value in zip(pairs[0::2], pairs[1::2], strict=False):
            target[row] = float(value)

    def _bound(self, fields: list[str], line_no: int) -> None:
        kind = fields[0].upper()
        has_value = kind not in ("FR", "MI", "PL", "BV")
        bounded = fields[2] if len(fields) >= (4 if has_value else 3) else fields[1]
        if bounded not in self.columns:
            raise _fail(line_no, f"bound on unknown column {bounded}")
        _set_bound(self.columns[bounded], kind, float(fields[-1]) if has_value else None, line_no)


def parse_mps(lines: Iterable[str]) -> MpsModel:
    """Read MPS text into a PuLP problem; malformed input raises ``ValidationFailed``."""
    reader = _Reader()
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.startswith("*"):
            continue
        fields = raw.split()
        if not raw[0].isspace():
            if not reader.header(fields, line_no):
                break
            continue
        try:
            reader.entry(fields, line_no)
        except (IndexError, ValueError, KeyError) as exc:
            raise _fail(line_no, f"cannot read {raw.strip()!r} ({exc})") from None
    if reader.objective_row is None:
        raise ValidationFailed("MPS file has no objective (N) row", context={})
    return _to_problem(
        reader.name,
        reader.sense,
        reader.objective_row,
        reader.row_sense,
        reader.rhs,
        reader.ranges,
        reader.columns,
    )


def _to_problem(
    name: str,
    sense: int,
    objective_row: str,
    row_sense: dict[str, int],
    rhs: dict[str, float],
    ranges: dict[str, float],
    columns: dict[str, _Column],
) -> MpsModel:
    problem = pulp.LpProblem(name or "model", sense)
    rows: dict[str, list[tuple[pulp.LpVariable, float]]] = {r: [] for r in row_sense}
    column_names: dict[str, str] = {}
    objective_terms = []
    for index, (col_name, column) in enumerate(columns.items()):
        var = problem.add_variable(
            f"x{index}", column.low, column.high, cat=pulp.LpInteger if column.integer else pulp.LpContinuous
        )
        column_names[var.name] = col_name
        if column.objective:
            objective_terms.append((var, column.objective))
        for row, value in column.entries:
            rows[row].append((var, value))
    problem.setObjective(pulp.LpAffineExpression(objective_terms, constant=-rhs.get(objective_row, 0.0)))
    for index, (row, terms) in enumerate(rows.items()):
        expr = pulp.LpAffineExpression(terms)
        bound, kind, spread = rhs.get(row, 0.0), row_sense[row], ranges.get(row)
        if spread is None:
            limits = [(kind, bound)]
        elif kind == pulp.LpConstraintEQ:
            other = bound + spread
            limits = [(pulp.LpConstraintGE, min(bound, other)), (pulp.LpConstraintLE, max(bound, other))]
        elif kind == pulp.LpConstraintLE:
            limits = [(pulp.LpConstraintGE, bound - abs(spread)), (kind, bound)]
        else:
            limits = [(kind, bound), (pulp.LpConstraintLE, bound + abs(spread))]
        for part, (limit_kind, limit) in enumerate(limits):
            if not terms:
                satisfied = (
                    (limit_kind == pulp.LpConstraintLE and limit >= 0)
                    or (limit_kind == pulp.LpConstraintGE and limit <= 0)
                    or (limit == 0)
                )
                if not satisfied:
                    raise ValidationFailed(
                        f"MPS row {row} is empty and can never hold", context={"mps_row": row}
                    )
                continue
            problem.addConstraint(pulp.LpConstraint(expr, limit_kind, rhs=limit), f"r{index}_{part}")
    return MpsModel(name=name, problem=problem, column_names=column_names)


def read_mps(path: str | Path) -> MpsModel:
    """Read an MPS file from disk."""
    with open(path, encoding="ascii", errors="replace") as handle:
        return parse_mps(handle)


def solve_mps_model(
    model: MpsModel, options: SolveOptions | None = None, *, include_values: bool = True
) -> RawSolveResult:
    """Solve an already-read MPS model."""
    options = options or SolveOptions()
    outcome = solve_problem(model.problem, options)
    values = (
        {model.column_names[n]: v for n, v in outcome.values.items() if n in model.column_names}
        if include_values
        else {}
    )
    return RawSolveResult(
        name=model.name,
        solver=options.solver,
        status=outcome.status,
        objective=outcome.objective,
        best_bound=outcome.best_bound,
        gap=outcome.gap,
        values=values,
        size=outcome.size,
        timings=Timings(solve_seconds=outcome.solve_seconds, total_seconds=outcome.solve_seconds),
    )


def solve_mps(
    path: str | Path, options: SolveOptions | None = None, *, include_values: bool = True
) -> RawSolveResult:
    """Read and solve an MPS file; timings separate reading from solving."""
    started = perf_counter()
    model = read_mps(path)
    read_seconds = perf_counter() - started
    result = solve_mps_model(model, options, include_values=include_values)
    result.timings.validate_seconds = read_seconds
    result.timings.total_seconds = perf_counter() - started
    if result.objective is not None and not math.isfinite(result.objective):
        result.objective = None
    return result
