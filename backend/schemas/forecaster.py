from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.schemas.common import ReadModel, SupportedDatetime
from backend.services.forecaster.types import (
    AVAILABLE_MODELS,
    BacktestScore,
    ForecastCalendar,
    ForecastInputs,
    ForecastPeriod,
    ForecastScores,
)
from backend.services.metrics.types import METRIC_NAME_PATTERN
from backend.utils.frequency import FREQUENCY_TEXT, FrequencyIn


class ForecastOptions(BaseModel):
    horizon: int = Field(ge=1, le=365, description="Periods ahead.", examples=[6])
    frequency: FrequencyIn | None = Field(
        default=None, description=f"Inferred from the data when omitted. {FREQUENCY_TEXT}"
    )
    levels: list[int] = Field(
        default=[80, 95], min_length=1, max_length=4, description="Interval levels in %."
    )
    model: str = Field(default="auto", description=f"One of {', '.join(AVAILABLE_MODELS)}.")
    dimensions: dict[str, str] = Field(default_factory=dict, description="Forecast only points with these.")
    start: SupportedDatetime | None = Field(default=None, description="Use history from here (inclusive).")
    end: SupportedDatetime | None = Field(
        default=None, description="Use history before this instant (forecast as of then; evaluate later)."
    )
    holiday_country: str | None = Field(
        default=None,
        min_length=2,
        max_length=10,
        pattern=r"^[A-Za-z]{2,3}$|^none$",
        description="Daily data: ISO 3166 country whose public holidays are regressors. Default: the country "
        "of the tenant's time zone (none for UTC); `none` for no holidays. Marked events "
        "(`/api/v1/calendar-events`) are regressors too.",
    )

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[int]) -> list[int]:
        if any(level <= 0 or level >= 100 for level in value):
            raise ValueError("levels must lie strictly between 0 and 100")
        return sorted(set(value))

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value not in AVAILABLE_MODELS:
            raise ValueError(f"unknown model; choose one of {', '.join(AVAILABLE_MODELS)}")
        return value


class ForecastCreate(ForecastOptions):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    metric: str = Field(pattern=METRIC_NAME_PATTERN, examples=["revenue"])
    run_async: bool = Field(
        default=False, alias="async", description="Run as a background job (202 with the job id)."
    )


class ForecastBatchCreate(ForecastOptions):
    model_config = ConfigDict(extra="forbid")

    metrics: list[str] = Field(
        default_factory=list, max_length=200, description="Metrics to forecast; empty means all with data."
    )


class ForecastSummary(ReadModel):
    id: uuid.UUID
    metric: str
    frequency: str
    horizon: int
    model: str | None
    status: str
    scores: ForecastScores
    data_start: datetime | None
    data_end: datetime | None
    created_at: datetime


class ForecastRead(ForecastSummary):
    inputs: ForecastInputs = Field(description="The request as run, with its frequency and time zone.")
    spec: str = Field(description="The fitted model in detail.")
    season_length: int
    levels: list[int]
    points: list[ForecastPeriod]
    backtest: list[BacktestScore] = Field(description="Rolling-origin backtest of every candidate.")
    backtest_origins: int
    improvement_over_seasonal_naive: float | None = Field(
        description="Percent by which the chosen model's backtest MASE beats seasonal naive (20 = 20% lower)."
    )
    n_observations: int
    interval_method: str | None = Field(
        default=None,
        description=(
            "How the intervals were made: 'model' (the model's own), 'calibrated' (rescaled by the "
            "backtest errors) or 'empirical' (backtest errors alone); chosen by backtest coverage."
        ),
    )
    backtest_coverage: dict[str, float] = Field(
        default_factory=dict,
        description="Share of held-out backtest actuals inside each interval level (0.95 = 95%).",
    )
    warnings: list[str]
    calendar: ForecastCalendar | None = Field(
        default=None,
        description="Daily forecasts: the holidays and marked events used as regressors, their estimated "
        "effects, and whether the chosen forecast includes them.",
    )


class EvaluationPointRead(ReadModel):
    ts: datetime
    forecast: float
    actual: float
    error: float
    inside: dict[str, bool]


class ForecastEvaluationRead(ReadModel):
    forecast_id: uuid.UUID
    matched: int = Field(description="Forecast periods whose actuals have arrived.")
    pending: int
    mae: float | None
    rmse: float | None
    bias: float | None
    smape: float | None
    mase: float | None
    coverage: dict[str, float] = Field(description="Share of actuals inside each interval level.")
    points: list[EvaluationPointRead]
