"""Types of plans built from the tenant's data: the derived inputs and the what-if answer.

A leaf (no solver, database or service imports) so schemas and the coach's composer can read
them. Every number a plan rests on is an :class:`InputSource` (value, optional interval, the
metric and period it came from and how), so an answer can cite each one.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

DataTemplate = Literal["inventory", "budget_allocation", "staffing", "product_mix"]
QuestionKind = Literal["plan", "what_if", "staff_count"]


class InputSource(BaseModel):
    """One number a plan rests on, where it came from and, when the method gives one, its interval."""

    label: str = Field(description="what the number is, in the owner's words")
    value: float
    low: float | None = Field(None, description="interval low (95% unless the method says otherwise)")
    high: float | None = None
    metric: str | None = Field(None, description="the tenant metric it was computed from")
    period: str | None = Field(None, description="the data period it covers")
    method: str


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
