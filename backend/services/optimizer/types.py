"""The optimizer's types: literals, limits and the plain data every layer shares.

Options, results, what-if changes, metric references and the stored form of a run's
solution. They are Pydantic models so the HTTP layer can serve and persist them as JSON
without translation; this module imports no solver, database or service code (schemas
import it).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

SolverName = Literal["cbc", "highs"]

DEFAULT_SOLVER: SolverName = "highs"
"""HiGHS: the engine's benchmark measured it faster than CBC on every template."""

MAX_SYNC_TIME_LIMIT_SECONDS = 60.0
"""The longest time limit a solve in the request may ask for."""

SolveStatus = Literal["optimal", "feasible", "infeasible", "unbounded", "time_limit", "not_solved"]
"""Outcome of a solve.

``feasible`` means a plan that satisfies every constraint was found but the solver
stopped (time limit) before proving it is the best; ``gap`` then says how far from
proven optimal it may be. ``time_limit`` means the clock ran out with no plan at all.
"""

ObjectiveSense = Literal["minimize", "maximize"]


class SolveOptions(BaseModel):
    """How to solve: which solver, how long, how close to proven optimal is good enough."""

    model_config = ConfigDict(extra="forbid")

    solver: SolverName = DEFAULT_SOLVER
    time_limit_seconds: float = Field(30.0, gt=0, le=3600)
    relative_gap: float = Field(
        1e-6, ge=0, le=0.5, description="stop a MIP when the proven gap to optimal is below this fraction"
    )
    explain_infeasibility: bool = Field(
        True, description="on an infeasible model, search for a small set of conflicting constraint groups"
    )


class ConstraintReport(BaseModel):
    """One constraint of the plan as the owner would name it, with how tight it is."""

    name: str
    kind: str
    description: str
    slack: float
    binding: bool
    shadow_price: float | None = Field(
        None, description="change in the objective per unit of extra right-hand side (LPs only)"
    )


class ConflictGroup(BaseModel):
    """A group of constraints that takes part in making the model infeasible."""

    group: str
    kind: str
    description: str


class ConflictReport(BaseModel):
    """A small set of constraint groups that cannot all hold at once."""

    groups: list[ConflictGroup]
    minimal: bool = Field(
        description="true when dropping any one of the groups was checked to make the model feasible"
    )
    checks: int = Field(description="feasibility solves spent finding the set")


class ModelSize(BaseModel):
    variables: int
    integer_variables: int
    constraints: int


class Timings(BaseModel):
    validate_seconds: float = 0.0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    explain_seconds: float = 0.0
    total_seconds: float = 0.0


class OptimizationResult(BaseModel):
    """What a template run returns: status, objective, the plan, and why it looks the way it does."""

    template: str
    solver: SolverName
    status: SolveStatus
    objective_sense: ObjectiveSense
    objective_label: str
    objective: float | None
    best_bound: float | None = Field(None, description="proven bound on the objective (MIPs)")
    gap: float | None = Field(None, description="relative distance between objective and best bound")
    is_mip: bool
    decisions: dict[str, float] = Field(
        default_factory=dict, description="decision name to value; zero-valued binaries may be omitted"
    )
    summary: dict[str, float] = Field(default_factory=dict, description="totals an owner reads first")
    binding_constraints: list[ConstraintReport] = Field(default_factory=list)
    reduced_costs: dict[str, float] = Field(default_factory=dict, description="LPs only")
    conflict: ConflictReport | None = None
    explanation: list[str] = Field(default_factory=list)
    size: ModelSize
    timings: Timings


class RawSolveResult(BaseModel):
    """Result of solving a model given as a file (MPS), with no template around it."""

    name: str
    solver: SolverName
    status: SolveStatus
    objective: float | None
    best_bound: float | None = None
    gap: float | None = None
    values: dict[str, float] = Field(default_factory=dict)
    size: ModelSize
    timings: Timings


ChangeOp = Literal["set", "scale", "add", "append", "remove"]


class Change(BaseModel):
    """One edit to a template's parameters, addressed by a JSON-pointer-like path.

    Path segments walk objects by key and lists by index or by an item's identifying
    field (``name``, ``sku``, ``id``); ``*`` means every item, optionally filtered by
    ``where``. Examples: ``{"path": "/total_budget", "op": "scale", "value": 1.1}``,
    ``{"path": "/employees/alice/unavailable", "op": "append", "value": {"day": "mon"}}``,
    ``{"path": "/products/*/unit_cost", "op": "scale", "value": 1.05, "where": {"supplier": "B"}}``.
    """

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, pattern=r"^/")
    op: ChangeOp
    value: JsonValue = None
    where: dict[str, JsonValue] | None = None
    label: str | None = Field(None, max_length=200, description="how to show this change to a person")


class ValueDiff(BaseModel):
    name: str
    baseline: float
    scenario: float
    delta: float


class WhatIfResult(BaseModel):
    """A baseline and a changed scenario side by side, with what moved."""

    changes: list[Change]
    baseline: OptimizationResult
    scenario: OptimizationResult
    objective_delta: float | None
    objective_delta_pct: float | None
    decision_diffs: list[ValueDiff]
    summary_diffs: list[ValueDiff]
    explanation: list[str]


class TemplateInfo(BaseModel):
    """What the templates endpoint shows: name, purpose, input schema and a worked example."""

    name: str
    title: str
    description: str
    objective_sense: ObjectiveSense
    input_schema: dict[str, JsonValue]
    example: dict[str, JsonValue]


# --------------------------------------------------------------------------- metric references

_WINDOW = re.compile(r"^\s*(\d{1,4})\s*(hour|day|week)s?\s*$", re.IGNORECASE)
_WINDOW_UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}

MetricAggregation = Literal["avg", "sum", "min", "max", "stddev", "latest"]


class MetricReference(BaseModel):
    """A parameter value taken from the tenant's metrics, e.g.
    ``{"metric": "orders", "agg": "avg", "last": "90 days"}``.

    The value is ``scale x agg(value)`` over the metric's observations in the trailing
    window ending now, optionally only those whose dimensions contain ``dimensions``.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=100)
    agg: MetricAggregation = "avg"
    last: str = Field("90 days", description="trailing window: '<n> hours|days|weeks' (n up to 9999)")
    dimensions: dict[str, str | int | float | bool] | None = None
    scale: float = Field(1.0, description="multiplier, e.g. 14 to turn a daily average into two weeks")

    @field_validator("last")
    @classmethod
    def _check_window(cls, value: str) -> str:
        match = _WINDOW.match(value)
        if match is None or int(match.group(1)) == 0:
            raise ValueError("must look like '90 days', '12 weeks' or '48 hours'")
        return value

    @property
    def window(self) -> timedelta:
        match = _WINDOW.match(self.last)
        assert match is not None
        return int(match.group(1)) * _WINDOW_UNITS[match.group(2).lower()]


class MetricInput(BaseModel):
    """Where a referenced parameter's number came from."""

    path: str
    reference: MetricReference
    points: int
    value: float


# --------------------------------------------------------------------------- stored runs


class StoredSolution(OptimizationResult):
    """``optimization_runs.solution``: the engine's result and where its metric inputs came from.

    Rows stored before metric references existed have no ``metric_inputs``.
    """

    metric_inputs: list[MetricInput] = Field(default_factory=list)


class RunTimings(Timings):
    """``optimization_runs.timings``: the engine's timings plus the service's round trips.

    Rows stored before a field existed read it as 0.
    """

    resolve_inputs_seconds: float = 0.0
    worker_seconds: float = Field(
        0.0, description="the worker round trip: queueing, pickling and the engine's own total"
    )
    service_seconds: float = 0.0


# --------------------------------------------------------------------------- plans built from data
# Every number a plan rests on is an InputSource, so an answer can cite each one.

DataTemplate = Literal["inventory", "budget_allocation", "staffing", "product_mix"]
QuestionKind = Literal["plan", "what_if", "staff_count"]


class Banded(Protocol):
    """A figure with its interval (an elasticity, a fitted ROI, a forecast)."""

    @property
    def value(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...


class InputSource(BaseModel):
    """One number a plan rests on, where it came from and, when the method gives one, its interval."""

    label: str = Field(description="what the number is, in the owner's words")
    value: float
    low: float | None = Field(None, description="interval low (95% unless the method says otherwise)")
    high: float | None = None
    metric: str | None = Field(None, description="the tenant metric it was computed from")
    period: str | None = Field(None, description="the data period it covers")
    method: str

    @classmethod
    def of_band(cls, label: str, band: Banded, *, metric: str, period: str, method: str) -> InputSource:
        """A figure with its interval, computed from ``metric`` over ``period``."""
        return cls(
            label=label,
            value=band.value,
            low=band.low,
            high=band.high,
            metric=metric,
            period=period,
            method=method,
        )


class FromDataAsk(BaseModel):
    """Optional knobs of a plan built from data; each applies to the templates it names."""

    model_config = ConfigDict(extra="forbid")

    lead_time_weeks: float = Field(1.0, gt=0, le=52, description="inventory: weeks of demand an order covers")
    total_budget: float | None = Field(
        None, gt=0, description="budget_allocation: budget to split; default the recent spend rate"
    )
    planning_days: float = Field(30.0, gt=0, le=366, description="budget_allocation: days the budget covers")
    week_start: date | None = Field(
        None, description="staffing: the Monday of the week to plan; default next week"
    )
    shift_hours: float = Field(8.0, gt=0, le=24, description="staffing: hours of the day's one shift")
    shift_start_hour: float = Field(9.0, ge=0, lt=24, description="staffing: when the shift starts")


class DerivedInputs(BaseModel):
    """A template's parameters built from the tenant's data, with every number's source."""

    template: DataTemplate
    params: dict[str, JsonValue]
    sources: list[InputSource]
    notes: list[str] = Field(
        default_factory=list,
        description="what was left out and why (e.g. a product whose price never varied)",
    )


class PlanLine(BaseModel):
    """One decision of the plan as the owner reads it."""

    name: str
    value: float


class PlanEffect(BaseModel):
    """What the asked change does: the plan's key figure before and after, with intervals if known."""

    change: str = Field(description="the change in words, e.g. 'ad spend -20%'")
    measure: str = Field(description="the figure compared, e.g. 'expected revenue over 30 days'")
    before: float
    after: float
    delta: float
    before_low: float | None = None
    before_high: float | None = None
    after_low: float | None = None
    after_high: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    interval_method: str | None = None
    outside_history: bool = Field(False, description="the change goes beyond what the data has seen")


class PlanAnswer(BaseModel):
    """The optimizer agent's typed answer to a plan or what-if question (``data['answer']``).

    ``status`` is ``ok`` (a plan, maybe with ``effect``), ``needs_data`` (``needs`` says which
    metric would let it) or ``refused`` (the data cannot support the asked change; ``notes`` why).
    """

    template: DataTemplate
    status: Literal["ok", "needs_data", "refused"]
    question_kind: QuestionKind
    run_id: str | None = None
    solve_status: str | None = None
    objective_label: str | None = None
    objective: float | None = None
    plan: list[PlanLine] = Field(default_factory=list)
    effect: PlanEffect | None = None
    sources: list[InputSource] = Field(default_factory=list)
    needs: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
