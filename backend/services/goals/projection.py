"""The forecaster's view of a goal's open periods: its complete history, forecast to the deadline.

Pure and CPU-bound (the forecaster backtests its candidate models): the service runs
``forecast_goal`` in the compute pool. The engine picks seasonal models where the history
allows (two seasons and more), and refuses a history too short for the horizon; the refusal
is returned, not raised, so progress falls back to a trend line and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Final

from backend.services.errors import ValidationFailed
from backend.services.forecaster.engine import forecast_series
from backend.services.forecaster.series import GapRule, build_series
from backend.services.goals.types import (
    FORECAST_LEVELS,
    ForecastOutcome,
    GoalSpec,
    PeriodForecast,
    PeriodValue,
)
from backend.utils.calendar import period_bounds, period_index, shift

# The most recent complete periods the forecaster sees: three years of months, enough for its
# seasonal models, and a bound on the CPU a progress read costs.
MAX_FORECAST_PERIODS: Final = 60


def _gap_rule(aggregation: str) -> GapRule:
    """Periods without data, as the forecaster fills them: flows are zero, levels carry forward."""
    if aggregation in ("sum", "count"):
        return "zero"
    return "ffill" if aggregation == "last" else "interpolate"


def _complete_points(history: Sequence[PeriodValue], today: date) -> list[tuple[datetime, float]]:
    points = [
        (datetime(item.start.year, item.start.month, item.start.day), item.value)
        for item in history
        if item.value is not None and item.end <= today
    ]
    return points[-MAX_FORECAST_PERIODS:]


def forecast_goal(spec: GoalSpec, history: Sequence[PeriodValue], today: date) -> ForecastOutcome:
    """The forecast of every period after the last complete one through the deadline's period."""
    points = _complete_points(history, today)
    if not points:
        return ForecastOutcome(refused="there is no complete period with data to forecast from.")
    last_start = points[-1][0].date()
    horizon = period_index(spec.period, spec.deadline) - period_index(spec.period, last_start)
    if horizon < 1:
        return ForecastOutcome(refused="no period is left to forecast before the deadline.")
    try:
        series = build_series(points, frequency=spec.period, gap_rule=_gap_rule(spec.aggregation))
        result = forecast_series(series, horizon, levels=FORECAST_LEVELS)
    except ValidationFailed as refusal:
        return ForecastOutcome(refused=refusal.message)
    periods = []
    for point in result.points:
        assert point.ts is not None  # a built series gives every step its period
        start = period_bounds(spec.period, point.ts.date())[0]
        periods.append(
            PeriodForecast(start, shift(spec.period, start, 1), point.mean, point.lower, point.upper)
        )
    return ForecastOutcome(periods=periods, model=result.model, season_length=result.season_length)
