"""Progress of a SMART goal, computed from its metric's per-period values.

Plain data in, plain data out: the service layer rolls the metric up into one
``PeriodValue`` per calendar period, asks the forecaster for the periods still to come
(``projection``), and passes both here with the goal's ``GoalSpec`` and the tenant's
local date. Nothing here reads a database, the clock or the network.

Consistent by construction: one scale (``percent_of``) decides whether a value meets the
target, and the percent complete, the achieved/missed outcome and the signal all come
from it, so they cannot contradict each other:

- a complete period of the goal at 100% or more is *achieved* (and the goal is judged on it);
- otherwise, once the deadline's period is over, *missed*;
- otherwise the signal judges the estimates of the remaining periods (``judge``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from backend.services.goals.rules import (
    PERCENT_TOL,
    meets,
    observed,
    percent_of,
    validate_history,
    validate_spec,
)
from backend.services.goals.types import (
    STATUS_LEVEL,
    Estimate,
    ForecastOutcome,
    GoalProgress,
    GoalSpec,
    Outcome,
    PeriodProgress,
    PeriodValue,
    Projection,
    ProjectionMethod,
    Signal,
)
from backend.services.goals.wording import Outlook, explain
from backend.utils.calendar import Period, period_bounds, period_index, periods_between, shift

# Aggregations that accumulate over the period, so a partial period is scaled up to a pace.
_ACCUMULATING: Final[frozenset[str]] = frozenset({"sum", "count"})
TREND_WINDOW: Final = 6
MIN_TREND_POINTS: Final = 3
# Without an interval (a trend line or a pace), "at risk" means the estimate gets at least this
# share of the way to the target; with the forecaster's interval, its favourable bound decides.
AT_RISK_SHARE: Final = 0.8


# --- periods ----------------------------------------------------------------------------------


def _pace(spec: GoalSpec, item: PeriodValue, today: date) -> float | None:
    """The whole period's expected value: a partial sum or count per day with data, times its days.

    The days counted run from the period's start through its last day with data, so today
    (or yesterday, when a sync lags) counts only once its data is in; days inside that span
    without data count as days with nothing (a closed shop).
    """
    if item.value is None or item.end <= today or spec.aggregation not in _ACCUMULATING:
        return item.value
    last = item.data_through if item.data_through is not None else today - timedelta(days=1)
    last = min(max(last, item.start), today)
    counted = (last - item.start).days + 1
    return item.value * (item.end - item.start).days / counted


def _period_progress(
    spec: GoalSpec, bounds: tuple[date, date], item: PeriodValue | None, today: date
) -> PeriodProgress:
    start, end = bounds
    value = item.value if item is not None else None
    projected = _pace(spec, item, today) if item is not None else None
    percent = None if projected is None else percent_of(spec, projected)
    return PeriodProgress(start, end, value, end <= today, projected, percent)


def _ols(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through ``points`` (distinct x values)."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    return slope, mean_y - slope * mean_x


@dataclass(frozen=True)
class _Trend:
    slope: float
    intercept: float
    points: int

    def at(self, period: Period, day: date) -> float:
        return self.intercept + self.slope * period_index(period, day)


def _trend(spec: GoalSpec, history: Sequence[PeriodValue], today: date) -> tuple[_Trend | None, int]:
    points = observed(spec.period, history, today)[-TREND_WINDOW:]
    if len(points) < MIN_TREND_POINTS:
        return None, len(points)
    slope, intercept = _ols(points)
    return _Trend(slope, intercept, len(points)), len(points)


# --- estimates of the periods still to come ---------------------------------------------------


def _remaining(spec: GoalSpec, today: date) -> tuple[date, date] | None:
    """Start of the first and of the last period still open (None once the deadline's is over)."""
    first = max(period_bounds(spec.period, today)[0], period_bounds(spec.period, spec.start_date)[0])
    last = period_bounds(spec.period, spec.deadline)[0]
    return (first, last) if first <= last else None


def _forecast_estimates(
    forecast: ForecastOutcome, first: date, last: date, covered: set[date]
) -> list[Estimate]:
    return [
        Estimate(p.start, p.end, p.mean, p.lower[STATUS_LEVEL], p.upper[STATUS_LEVEL], "forecast")
        for p in forecast.periods
        if first <= p.start <= last and p.start not in covered
    ]


def _linear_estimates(
    spec: GoalSpec, trend: _Trend, first: date, last: date, covered: set[date]
) -> list[Estimate]:
    # A line is monotone: its best open period is the first or the last one it estimates.
    if first in covered:
        first = shift(spec.period, first, 1)
    if first > last:
        return []
    return [
        Estimate(start, shift(spec.period, start, 1), trend.at(spec.period, start), None, None, "linear")
        for start in sorted({first, last})
    ]


def _best(spec: GoalSpec, estimates: Sequence[Estimate]) -> Estimate:
    sign = 1.0 if spec.direction == "increase" else -1.0
    return max(estimates, key=lambda e: (sign * e.mean, -e.start.toordinal()))


def project(
    spec: GoalSpec,
    today: date,
    in_progress: PeriodProgress | None,
    forecast: ForecastOutcome | None,
    trend: _Trend | None,
) -> Projection | None:
    """Estimates of the goal's open periods: the pace of the one in progress, then the forecaster's
    (or, when it refused, the trend line's) for the ones to come. None when nothing is known."""
    span = _remaining(spec, today)
    if span is None:
        return None
    first, last = span
    estimates: list[Estimate] = []
    if in_progress is not None and in_progress.projected_value is not None:
        pace = in_progress.projected_value
        estimates.append(Estimate(in_progress.start, in_progress.end, pace, None, None, "pace"))
    covered = {e.start for e in estimates}
    usable = forecast if forecast is not None and forecast.refused is None and forecast.periods else None
    if usable is not None:
        estimates += _forecast_estimates(usable, first, last, covered)
    elif trend is not None:
        estimates += _linear_estimates(spec, trend, first, last, covered)
    if not estimates:
        return None
    methods = {e.method for e in estimates}
    method: ProjectionMethod = (
        "forecast" if "forecast" in methods else "linear" if "linear" in methods else "pace"
    )
    return Projection(
        method=method,
        estimates=estimates,
        at_deadline=next((e for e in estimates if e.start == last), None),
        best=_best(spec, estimates),
        model=usable.model if usable is not None else None,
        level=STATUS_LEVEL if method == "forecast" else None,
        note=forecast.refused if forecast is not None else None,
        periods=list(usable.periods) if usable is not None else [],
    )


def _nearly_meets(spec: GoalSpec, estimate: Estimate) -> bool:
    bound = estimate.upper if spec.direction == "increase" else estimate.lower
    if bound is not None:
        return meets(spec, bound)
    return percent_of(spec, estimate.mean) >= 100.0 * AT_RISK_SHARE - PERCENT_TOL


def judge(spec: GoalSpec, projection: Projection | None, *, later_periods_unknown: bool) -> Signal:
    """The signal of an open goal from the estimates of its open periods.

    With the forecaster's ``STATUS_LEVEL`` (80%) interval, whose bounds are its 10th and 90th
    percentiles: *on track* when an open period's mean forecast meets the target (about even odds
    or better), *at risk* when only the interval's favourable bound does (between about 1 in 10
    and even odds), *off track* when not even that bound does (under about 1 in 10). A pace or a
    trend line has no interval: *at risk* is then getting ``AT_RISK_SHARE`` of the way. When the
    periods after the one in progress have no estimate at all, only meeting the target decides
    (*on track*); anything else is *insufficient data*.
    """
    if projection is None:
        return "insufficient_data"
    if any(meets(spec, e.mean) for e in projection.estimates):
        return "on_track"
    if later_periods_unknown:
        return "insufficient_data"
    if any(_nearly_meets(spec, e) for e in projection.estimates):
        return "at_risk"
    return "off_track"


# --- progress ---------------------------------------------------------------------------------


def compute_progress(
    spec: GoalSpec,
    history: Sequence[PeriodValue],
    today: date,
    forecast: ForecastOutcome | None = None,
) -> GoalProgress:
    """Progress of the goal on ``today`` (the tenant's local date), from one value per period.

    The goal window is the periods from the one containing ``start_date`` through the one
    containing ``deadline``; ``history`` should cover it up to the period containing ``today``
    (missing periods count as no data) and may start earlier, which helps the trend.
    ``forecast`` is the forecaster's answer for the open periods (see ``projection``); without
    it, or when it refused, the trend is a least-squares line over the last up-to-6 complete
    periods with data.
    """
    validate_spec(spec)
    validate_history(spec.period, history)
    items = {item.start: item for item in history}
    current_bounds = period_bounds(spec.period, today)
    current_period = _period_progress(spec, current_bounds, items.get(current_bounds[0]), today)
    # Periods not started yet carry no information, so the window stops at today's period.
    window = [
        _period_progress(spec, bounds, items.get(bounds[0]), today)
        for bounds in periods_between(spec.period, spec.start_date, spec.deadline)
        if bounds[0] <= today
    ]
    complete_with_data = [e for e in window if e.complete and e.value is not None]
    latest_complete = complete_with_data[-1] if complete_with_data else None
    reached = next(
        (e for e in complete_with_data if e.percent is not None and e.percent >= 100.0 - PERCENT_TOL), None
    )
    in_progress = next((e for e in window if not e.complete), None)
    basis = reached or latest_complete or in_progress
    current_value = basis.projected_value if basis is not None else None
    percent_complete = None if current_value is None else percent_of(spec, current_value)

    trend, trend_points = _trend(spec, history, today)
    deadline_over = period_bounds(spec.period, spec.deadline)[1] <= today
    projection = (
        None if reached is not None or deadline_over else project(spec, today, in_progress, forecast, trend)
    )
    signal: Signal
    outcome: Outcome | None = None
    if reached is not None:
        signal = outcome = "achieved"
    elif deadline_over:
        signal = outcome = "missed"
    else:
        signal = judge(
            spec, projection, later_periods_unknown=_later_periods_unknown(spec, today, projection)
        )

    at_deadline = projection.at_deadline if projection is not None else None
    slope = trend.slope if trend is not None else None
    outlook = Outlook(signal, reached, projection, slope, trend_points, MIN_TREND_POINTS)
    return GoalProgress(
        direction=spec.direction,
        current_period=current_period,
        latest_complete=latest_complete,
        reached=reached,
        current_value=current_value,
        percent_complete=percent_complete,
        trend_per_period=outlook.slope,
        expected_at_deadline=at_deadline.mean if at_deadline is not None else None,
        projection=projection,
        signal=signal,
        outcome=outcome,
        history=window,
        explanation=explain(spec, latest_complete, current_period, percent_complete, outlook),
    )


def _later_periods_unknown(spec: GoalSpec, today: date, projection: Projection | None) -> bool:
    """Open periods after the one in progress exist, and none of them has an estimate."""
    span = _remaining(spec, today)
    if span is None or projection is None:
        return True
    first, last = span
    return first < last and projection.method == "pace"
