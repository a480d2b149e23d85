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

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from backend.services.errors import ValidationFailed
from backend.services.goals.types import (
    AGGREGATIONS,
    DIRECTIONS,
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
from backend.utils.calendar import (
    PERIOD_ADJECTIVE,
    Period,
    check_period,
    period_bounds,
    period_index,
    period_label,
    periods_between,
    shift,
)

# Aggregations that accumulate over the period, so a partial period is scaled up to a pace.
_ACCUMULATING: Final[frozenset[str]] = frozenset({"sum", "count"})
TREND_WINDOW: Final = 6
MIN_TREND_POINTS: Final = 3
# Without an interval (a trend line or a pace), "at risk" means the estimate gets at least this
# share of the way to the target; with the forecaster's interval, its favourable bound decides.
AT_RISK_SHARE: Final = 0.8
# Tolerance on the percent scale: a trend line fitted to exact data lands a few ulps off.
_PERCENT_TOL: Final = 1e-7


def _refuse(message: str, **details: object) -> ValidationFailed:
    return ValidationFailed(message, details=dict(details))


def _period(period: str) -> Period:
    try:
        return check_period(period)
    except ValueError as error:
        raise _refuse(
            str(error), period=period, allowed=["day", "week", "month", "quarter", "year"]
        ) from None


def validate_spec(spec: GoalSpec) -> None:
    """Raise ``ValidationFailed`` unless the goal is well formed."""
    _period(spec.period)
    if spec.aggregation not in AGGREGATIONS:
        raise _refuse(
            f"Unknown aggregation {spec.aggregation!r}; expected one of {', '.join(AGGREGATIONS)}.",
            aggregation=spec.aggregation,
            allowed=list(AGGREGATIONS),
        )
    if spec.direction not in DIRECTIONS:
        raise _refuse(f"Unknown direction {spec.direction!r}.", direction=spec.direction)
    if not (math.isfinite(spec.target) and math.isfinite(spec.baseline)):
        raise _refuse(
            "The target and the baseline must be finite numbers.",
            target=str(spec.target),
            baseline=str(spec.baseline),
        )
    if spec.target == spec.baseline:
        raise _refuse(
            f"The target ({fmt(spec.target)}) equals the baseline; a goal must ask for a change.",
            target=spec.target,
            baseline=spec.baseline,
        )
    if spec.deadline < spec.start_date:
        raise _refuse(
            f"The deadline {spec.deadline} is before the start date {spec.start_date}.",
            start_date=spec.start_date.isoformat(),
            deadline=spec.deadline.isoformat(),
        )


def validate_history(period: Period, history: Sequence[PeriodValue]) -> None:
    """Raise ``ValidationFailed`` unless ``history`` is calendar periods, in order, with finite values."""
    _period(period)
    previous_end: date | None = None
    for index, item in enumerate(history):
        where = {"index": index, "start": item.start.isoformat()}
        if (item.start, item.end) != period_bounds(period, item.start):
            raise _refuse(
                f"History entry {index} ({item.start.isoformat()} to {item.end.isoformat()}) "
                f"is not a calendar {period}.",
                **where,
                end=item.end.isoformat(),
            )
        if previous_end is not None and item.start < previous_end:
            raise _refuse(f"History entry {index} ({item.start.isoformat()}) is out of order.", **where)
        if item.value is not None and not math.isfinite(item.value):
            raise _refuse(f"History entry {index} has a non-finite value.", **where, value=str(item.value))
        previous_end = item.end


def observed(period: Period, history: Sequence[PeriodValue], today: date) -> list[tuple[int, float]]:
    """(period index, value) of every complete period with data, in order."""
    return [
        (period_index(period, item.start), item.value)
        for item in history
        if item.value is not None and item.end <= today
    ]


def baseline_from_history(
    period: Period,
    history: Sequence[PeriodValue],
    start_date: date,
    *,
    today: date | None = None,
) -> float | None:
    """Value of the last complete period before the one containing ``start_date`` (None if no data).

    Periods without data are skipped, so the baseline is the most recent value actually seen.
    Pass ``today`` when the goal starts in the future: the period running today is then
    not complete yet and is not used.
    """
    validate_history(period, history)
    start_period_start = period_bounds(period, start_date)[0]
    for item in reversed(history):
        if item.value is None or item.end > start_period_start:
            continue
        if today is not None and item.end > today:
            continue
        return item.value
    return None


# --- the one scale ----------------------------------------------------------------------------


def baseline_meets_target(spec: GoalSpec) -> bool:
    """The baseline is already on the target's good side (an increase goal set below it, say)."""
    return spec.baseline >= spec.target if spec.direction == "increase" else spec.baseline <= spec.target


def scale_origin(spec: GoalSpec) -> float:
    """The value that is 0% of the goal.

    The baseline, when it is short of the target. When it already meets it (an owner asking
    for "at least 135k a month" after a 150k month), the goal is to hold the target and the
    scale runs from zero to the target instead (or over the baseline's distance for a target
    of zero), so 100% still means "meets the target" and the direction stays the stated one.
    """
    if not baseline_meets_target(spec):
        return spec.baseline
    span = abs(spec.target) or abs(spec.baseline - spec.target)
    return spec.target - span if spec.direction == "increase" else spec.target + span


def percent_of(spec: GoalSpec, value: float) -> float:
    """Percent of the goal ``value`` stands for: 0 at the scale's origin, 100 at the target."""
    origin = scale_origin(spec)
    return 100.0 * (value - origin) / (spec.target - origin)


def meets(spec: GoalSpec, value: float) -> bool:
    """``value`` is at or beyond the target on its good side: exactly when it is 100% or more."""
    return percent_of(spec, value) >= 100.0 - _PERCENT_TOL


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
    return percent_of(spec, estimate.mean) >= 100.0 * AT_RISK_SHARE - _PERCENT_TOL


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
        (e for e in complete_with_data if e.percent is not None and e.percent >= 100.0 - _PERCENT_TOL), None
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
    return GoalProgress(
        direction=spec.direction,
        current_period=current_period,
        latest_complete=latest_complete,
        reached=reached,
        current_value=current_value,
        percent_complete=percent_complete,
        trend_per_period=trend.slope if trend is not None else None,
        expected_at_deadline=at_deadline.mean if at_deadline is not None else None,
        projection=projection,
        signal=signal,
        outcome=outcome,
        history=window,
        explanation=_explain(
            spec,
            latest_complete,
            current_period,
            percent_complete,
            signal,
            reached,
            projection,
            trend,
            trend_points,
        ),
    )


def _later_periods_unknown(spec: GoalSpec, today: date, projection: Projection | None) -> bool:
    """Open periods after the one in progress exist, and none of them has an estimate."""
    span = _remaining(spec, today)
    if span is None or projection is None:
        return True
    first, last = span
    return first < last and projection.method == "pace"


# --- words ------------------------------------------------------------------------------------


def _explain(
    spec: GoalSpec,
    latest_complete: PeriodProgress | None,
    current_period: PeriodProgress,
    percent_complete: float | None,
    signal: Signal,
    reached: PeriodProgress | None,
    projection: Projection | None,
    trend: _Trend | None,
    trend_points: int,
) -> str:
    """Two or three plain sentences with the numbers behind the signal."""
    return " ".join(
        part
        for part in (
            _state(spec, latest_complete, current_period, percent_complete),
            _outlook(spec, signal, reached, projection, trend, trend_points),
            _note(projection),
        )
        if part
    )


def _subject(spec: GoalSpec) -> str:
    adjective = PERIOD_ADJECTIVE[spec.period]
    if spec.metric:
        return f"{adjective} {spec.metric} ({spec.aggregation})"
    return f"The {adjective.lower()} {spec.aggregation}"


def _scale_words(spec: GoalSpec) -> str:
    if baseline_meets_target(spec):
        side = "at least" if spec.direction == "increase" else "at most"
        return (
            f"of the target of {side} {fmt(spec.target)} (the baseline {fmt(spec.baseline)} already met it)"
        )
    return f"of the way from {fmt(spec.baseline)} to {fmt(spec.target)}"


def _state(
    spec: GoalSpec,
    latest_complete: PeriodProgress | None,
    current_period: PeriodProgress,
    percent_complete: float | None,
) -> str:
    subject = _subject(spec)
    deadline_label = period_label_of(spec.period, spec.deadline)
    if latest_complete is not None and latest_complete.value is not None:
        state = f"{subject} was {fmt(latest_complete.value)} in {_label(spec, latest_complete.start)}"
    elif current_period.value is not None and current_period.projected_value is not None:
        state = f"{subject} is {fmt(current_period.value)} so far in {_label(spec, current_period.start)}"
        if current_period.projected_value != current_period.value:
            state += f" (on pace for {fmt(current_period.projected_value)})"
    else:
        state = f"{subject} has no data yet for the goal ({_scale_words(spec)}) by {deadline_label}"
        return state + "."
    if percent_complete is not None:
        state += f", {percent_complete:,.0f}% {_scale_words(spec)}"
    return state + "."


def _estimate_words(spec: GoalSpec, estimate: Estimate) -> str:
    label = period_label(spec.period, estimate.start)
    if estimate.lower is not None and estimate.upper is not None:
        interval = f"{STATUS_LEVEL}% interval {fmt(estimate.lower)} to {fmt(estimate.upper)}"
        return f"{fmt(estimate.mean)} in {label} ({interval})"
    return f"{fmt(estimate.mean)} in {label}"


def _outlook(
    spec: GoalSpec,
    signal: Signal,
    reached: PeriodProgress | None,
    projection: Projection | None,
    trend: _Trend | None,
    trend_points: int,
) -> str:
    deadline_label = period_label_of(spec.period, spec.deadline)
    if signal == "achieved" and reached is not None:
        return f"The target of {fmt(spec.target)} was reached in {period_label(spec.period, reached.start)}."
    if signal == "missed":
        return (
            f"The deadline ({deadline_label}) has passed without reaching the target of {fmt(spec.target)}."
        )
    if projection is None or signal == "insufficient_data":
        return (
            f"A trend needs at least {MIN_TREND_POINTS} complete {spec.period}s with data; "
            f"there {'is' if trend_points == 1 else 'are'} {trend_points}."
        )
    if projection.method == "forecast":
        lead = f"The forecast ({projection.model}) expects"
    elif projection.method == "linear" and trend is not None:
        lead = f"At the current trend of {signed(trend.slope)} per {spec.period} it reaches about"
    else:
        lead = "The pace gives"
    shown = [projection.at_deadline] if projection.at_deadline is not None else []
    if projection.best not in shown:
        shown.append(projection.best)
    estimates = " and ".join(_estimate_words(spec, e) for e in shown)
    verdict = signal.replace("_", " ")
    target = f"against a target of {fmt(spec.target)} by {deadline_label}"
    return f"{lead} {estimates}, {target}, so the goal is {verdict}."


def _note(projection: Projection | None) -> str:
    if projection is None or projection.note is None:
        return ""
    return f"The forecaster was not used: {projection.note}"


def _label(spec: GoalSpec, start: date) -> str:
    return period_label(spec.period, start)


def period_label_of(period: Period, day: date) -> str:
    """Label of the period containing ``day``."""
    return period_label(period, period_bounds(period, day)[0])


def fmt(value: float) -> str:
    """A readable number: thousands separators, whole numbers from 100 up, 3 significant digits below."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def signed(value: float) -> str:
    """``fmt`` with an explicit sign."""
    return f"{'-' if value < 0 else '+'}{fmt(abs(value))}"
