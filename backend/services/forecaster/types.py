"""The forecaster's types: literals, limits and the stored forms of a forecast.

A leaf module: it imports no engine, service or database code, so schemas may import it.
``forecasts.inputs``, ``forecasts.result`` and ``forecasts.scores`` are JSON columns; they are
written and read only through the models below (by the feature's repository). Fields added
after the first forecasts were stored have defaults, so older rows still read.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Final, Literal

from pydantic import BaseModel, Field

from backend.utils.calendar import Period

Frequency = Period  # the calendar's periods are the forecast frequencies

# Every model a caller may name. ``arima`` and ``ces`` are not in the automatic set: AutoARIMA
# costs about seven AutoETS fits on a monthly series and AutoCES about one, while the
# combination already holds ETS and Theta.
MODEL_NAMES: Final = (
    "naive",
    "seasonal_naive",
    "drift",
    "ses",
    "ets",
    "theta",
    "arima",
    "ces",
    "mstl",
    "calendar",
    "croston",
    "adida",
    "imapa",
    "tsb",
)
COMBINATION: Final = "combination"
AVAILABLE_MODELS: Final = ("auto", *MODEL_NAMES, COMBINATION)

# Beyond these a forecast runs as a background job (an auto-selected monthly forecast of a
# few years takes 1-2 s on one core; hundreds of daily periods with long horizons take more).
SYNC_MAX_HORIZON: Final = 60
SYNC_MAX_PERIODS: Final = 730


class ForecastInputs(BaseModel):
    """``forecasts.inputs``: the request as run, with the frequency and time zone it ran in."""

    metric: str
    horizon: int
    frequency: Frequency | None = None
    levels: list[int] = Field(default_factory=lambda: [80, 95])
    model: str = "auto"
    dimensions: dict[str, str] = Field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    timezone: str = "UTC"
    # Daily forecasts: whose public holidays were regressors (None: none, or not daily data).
    holiday_country: str | None = None


class ForecastPeriod(BaseModel):
    """One forecast period; bounds are keyed by the interval level as text (``"80"``)."""

    step: int
    ts: datetime | None = Field(description="Start of the forecast period.")
    mean: float
    lower: dict[str, float] = Field(description="Lower bound per interval level.")
    upper: dict[str, float] = Field(description="Upper bound per interval level.")


class BacktestScore(BaseModel):
    """One candidate model's rolling-origin backtest."""

    model: str
    spec: str
    mase: float | None
    smape: float | None
    origins: int
    error: str | None


class CalendarRegressorUsed(BaseModel):
    """A holiday or marked event the daily forecast had as a regressor."""

    name: str
    kind: Literal["holiday", "event"]
    history_days: int = Field(description="Days of history it falls on (its effect is estimated from them).")
    horizon_dates: list[date] = Field(description="Its days within the forecast horizon.")
    effect: float | None = Field(
        default=None,
        description="Estimated effect on its days: relative (-0.6 = 60% lower) when `effect_scale` is "
        "relative, else in the metric's units.",
    )


class ForecastCalendar(BaseModel):
    """The calendar of a daily forecast: holiday country, holidays and events, and whether it was used."""

    holiday_country: str | None = Field(description="Whose public holidays (none: no holidays).")
    applied: bool = Field(description="The chosen forecast includes the calendar model.")
    yearly_seasonality: bool = Field(
        description="The calendar model fitted a yearly cycle (a year of history)."
    )
    effect_scale: Literal["relative", "absolute"] | None = None
    regressors: list[CalendarRegressorUsed] = Field(
        default_factory=list, description="Holidays and events with days in the history."
    )


class ForecastDocument(BaseModel):
    """``forecasts.result``: the chosen model, its points and the backtest behind the choice."""

    model: str
    spec: str
    horizon: int
    season_length: int
    levels: list[int]
    points: list[ForecastPeriod]
    backtest: list[BacktestScore]
    backtest_origins: int
    improvement_over_seasonal_naive: float | None
    mase_scale: float | None = None
    n_observations: int
    # Forecasts stored before intervals were chosen by coverage carry neither field.
    interval_method: str | None = None
    backtest_coverage: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    calendar: ForecastCalendar | None = None

    def candidate(self, model: str) -> BacktestScore | None:
        return next((c for c in self.backtest if c.model == model), None)


class StoredEvaluation(BaseModel):
    """The latest score of a forecast against the actuals that arrived since."""

    evaluated_at: datetime
    matched: int
    pending: int
    mae: float | None
    smape: float | None
    mase: float | None
    coverage: dict[str, float] = Field(default_factory=dict)


class ForecastScores(BaseModel):
    """``forecasts.scores``: the chosen model's backtest accuracy and the latest evaluation."""

    mase: float | None = None
    smape: float | None = None
    improvement_over_seasonal_naive: float | None = None
    evaluation: StoredEvaluation | None = None


class BatchForecast(BaseModel):
    """A metric a batch forecast: the result of its child job, and a line of the batch's result."""

    metric: str
    forecast_id: uuid.UUID
    model: str | None


class BatchFailure(BaseModel):
    """A metric a batch could not forecast, and why (the child job's error)."""

    metric: str
    code: str
    message: str


class BatchResult(BaseModel):
    """The result of a batch job: every metric, forecast or failed."""

    series: int
    forecasts: list[BatchForecast]
    failed: list[BatchFailure]
