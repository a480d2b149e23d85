from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from backend.schemas.common import ReadModel, SupportedDate
from backend.schemas.metrics import Aggregation
from backend.services.metrics.types import METRIC_NAME_PATTERN

Period = Literal["day", "week", "month", "quarter", "year"]
GoalStatusValue = Literal["draft", "active", "achieved", "missed", "abandoned"]


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class GoalCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200, examples=["Grow monthly revenue to 50k"])
    description: str | None = Field(default=None, max_length=2000)
    metric: str = Field(pattern=METRIC_NAME_PATTERN, examples=["revenue"])
    target_value: float = Field(examples=[50000])
    aggregation: Aggregation | None = Field(default=None, description="Default: the metric's aggregation.")
    period: Period = Field(default="month", description="The calendar period the target applies to.")
    baseline_value: float | None = Field(
        default=None, description="Default: the last complete period before the start, from the metric."
    )
    start_date: SupportedDate | None = Field(
        default=None, description="Default: today in the tenant's time zone."
    )
    deadline: SupportedDate = Field(examples=["2027-03-31"])
    owner_id: uuid.UUID | None = Field(default=None, description="Default: the caller.")
    parent_id: uuid.UUID | None = Field(default=None, description="Set to decompose a larger goal.")
    status: Literal["draft", "active"] = "active"

    _check_numbers = field_validator("target_value", "baseline_value")(_finite)


class GoalUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    target_value: float | None = None
    deadline: SupportedDate | None = None
    owner_id: uuid.UUID | None = None
    status: Literal["draft", "active", "abandoned"] | None = Field(
        default=None, description="Manual moves only; achieved and missed follow from the data."
    )

    _check_numbers = field_validator("target_value")(_finite)


class GoalRead(ReadModel):
    id: uuid.UUID
    title: str
    description: str | None
    metric: str
    aggregation: Aggregation
    period: Period
    target_value: float
    baseline_value: float | None
    start_date: date
    deadline: date
    status: GoalStatusValue
    status_changed_at: datetime | None
    owner_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class GoalCreated(GoalRead):
    warnings: list[str] = Field(description="Plausibility warnings (they do not block the goal).")


class PeriodProgressRead(ReadModel):
    start: date
    end: date = Field(description="Exclusive.")
    value: float | None
    complete: bool
    projected_value: float | None = Field(
        description="For the period in progress: the value extrapolated to its end."
    )
    percent: float | None = Field(description="Percent of the way from baseline to target.")


class GoalProgressRead(BaseModel):
    goal: GoalRead
    direction: Literal["increase", "decrease"]
    current_value: float | None
    percent_complete: float | None
    current_period: PeriodProgressRead
    latest_complete: PeriodProgressRead | None
    trend_per_period: float | None
    expected_at_deadline: float | None
    signal: Literal["on_track", "at_risk", "off_track", "achieved", "missed", "insufficient_data"]
    explanation: str
    history: list[PeriodProgressRead]


class GoalPlanRequest(BaseModel):
    objective: str = Field(min_length=1, max_length=500, examples=["Grow revenue 20% this year"])
    metric: str | None = Field(
        default=None, pattern=METRIC_NAME_PATTERN, description="Default: the metric the objective names."
    )
    change_percent: float | None = Field(
        default=None, description="Requested change in percent (default: read from the objective)."
    )
    deadline: SupportedDate | None = Field(
        default=None, description="Default: read from the objective, else 6 months."
    )
    period: Literal["week", "month", "quarter"] | None = Field(
        default=None, description="Default: month (week for deadlines under two months)."
    )

    _check_numbers = field_validator("change_percent")(_finite)


class GoalPlanCitation(BaseModel):
    metric: str | None
    period: str | None
    method: str
    value: float
    display: str


class GoalPlanDraftRead(BaseModel):
    label: str = Field(examples=["requested", "on trend", "stretch"])
    rationale: str
    goal: GoalCreate = Field(description="POST this body to /api/v1/goals to accept the draft.")
    warnings: list[str] = Field(description="Plausibility warnings from the goal rules.")


class GoalPlanRead(BaseModel):
    objective: str
    metric: str
    period: Period
    aggregation: Aggregation
    baseline_value: float
    baseline_start: date
    baseline_end: date = Field(description="Exclusive.")
    deadline: date
    drafts: list[GoalPlanDraftRead] = Field(description="Not saved.")
    report: list[str] = Field(description="How the drafts were derived, in words.")
    citations: list[GoalPlanCitation]
