from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from backend.schemas.common import ReadModel, SupportedDate
from backend.schemas.metrics import Aggregation
from backend.services.goals.types import Direction, ProjectionMethod, Signal
from backend.services.metrics.types import METRIC_NAME_PATTERN
from backend.utils.calendar import Period

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
    direction: Direction | None = Field(
        default=None,
        description="increase: met at or above the target; decrease: at or below. Default: from the "
        "metric's favourable_direction (up → increase, down → decrease); required when it has none.",
    )
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
    direction: Direction
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


class EstimateRead(ReadModel):
    start: date
    end: date = Field(description="Exclusive.")
    mean: float
    lower: float | None = Field(description="Lower bound of the 80% interval (forecast only).")
    upper: float | None = Field(description="Upper bound of the 80% interval (forecast only).")
    method: ProjectionMethod


class PeriodForecastRead(ReadModel):
    start: date
    end: date = Field(description="Exclusive.")
    mean: float
    lower: dict[int, float] = Field(description="Lower bound per interval level (80, 95).")
    upper: dict[int, float] = Field(description="Upper bound per interval level (80, 95).")


class ProjectionRead(ReadModel):
    method: ProjectionMethod = Field(
        description="forecast: the forecaster with intervals; linear: a trend line, used only when the "
        "forecaster refused (see note); pace: only the period in progress is known."
    )
    model: str | None = Field(description="The forecaster's model.")
    level: int | None = Field(description="The interval level the status is judged on.")
    note: str | None = Field(description="Why the forecaster was not used, when it was not.")
    at_deadline: EstimateRead | None
    best: EstimateRead = Field(description="The open period expected closest to (or beyond) the target.")
    estimates: list[EstimateRead]
    periods: list[PeriodForecastRead] = Field(description="The forecaster's periods through the deadline.")


class GoalProgressRead(BaseModel):
    goal: GoalRead
    direction: Direction
    current_value: float | None = Field(
        description="The value the goal is judged on: the period that reached the target, else the latest "
        "complete period, else the pace of the period in progress."
    )
    percent_complete: float | None = Field(description="100 means the current value meets the target.")
    current_period: PeriodProgressRead
    latest_complete: PeriodProgressRead | None
    reached: PeriodProgressRead | None = Field(description="The first complete period at the target.")
    trend_per_period: float | None
    expected_at_deadline: float | None
    projection: ProjectionRead | None
    signal: Signal = Field(
        description="achieved / missed from complete periods; else on_track (an open period's mean "
        "forecast meets the target), at_risk (only the 80% interval's favourable bound does), "
        "off_track (not even that), insufficient_data."
    )
    explanation: str
    history: list[PeriodProgressRead]


class GoalStatusChangeRead(ReadModel):
    id: uuid.UUID
    goal_id: uuid.UUID
    signal: Signal
    previous_signal: Signal | None
    percent_complete: float | None
    current_value: float | None
    expected_at_deadline: float | None
    projection_method: ProjectionMethod | None
    recorded_at: datetime


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
