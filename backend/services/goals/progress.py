"""Progress of a SMART goal, computed from its metric's per-period values.

Plain data in, plain data out: the service layer rolls the metric up into one
``PeriodValue`` per calendar period (see ``periods``) and passes it here with the
goal's ``GoalSpec`` and the tenant's local date. Nothing here reads a database,
the clock or the network.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, get_args

from backend.services.errors import ValidationFailed
from backend.services.goals.periods import (
    PERIOD_ADJECTIVE,
    Period,
    check_period,
    period_bounds,
    period_index,
    period_label,
    periods_between,
)

__all__ = [
    "Aggregation",
    "Direction",
    "GoalProgress",
    "GoalSpec",
    "Outcome",
    "Period",
    "PeriodProgress",
    "PeriodValue",
    "Signal",
    "achievability_warnings",
    "baseline_from_history",
    "compute_progress",
    "period_bounds",
    "periods_between",
]

Aggregation = Literal["sum", "avg", "min", "max", "last", "count"]
Direction = Literal["increase", "decrease"]
Signal = Literal["achieved", "missed", "on_track", "at_risk", "off_track", "insufficient_data"]
Outcome = Literal["achieved", "missed"]

AGGREGATIONS: Final[tuple[str, ...]] = get_args(Aggregation)
# Aggregations that accumulate over the period, so a partial period must be scaled up.
_ACCUMULATING: Final[frozenset[str]] = frozenset({"sum", "count"})
TREND_WINDOW: Final = 6
MIN_TREND_POINTS: Final = 3
# Share of the way from baseline to target the trend must reach by the deadline to be "at risk"
# rather than "off track".
AT_RISK_SHARE: Final = 0.8
# Fewer period-over-period changes than this say too little about what growth is normal.
MIN_CHANGES_TO_JUDGE: Final = 4
# "Sustained" change: the best average over this many consecutive changes, so one lucky
# spike does not make any target look achievable.
SUSTAINED_CHANGES: Final = 3
IMPLAUSIBLE_SIGMAS: Final = 3.0
# Relative tolerance for comparisons with the target: a trend line fitted to exact data
# lands a few ulps off the value it should hit.
_REL_TOL: Final = 1e-9


@dataclass(frozen=True)
class PeriodValue:
    """The metric aggregated over one period ``[start, end)``; ``value`` is None when there is no data."""

    start: date
    end: date
    value: float | None


@dataclass(frozen=True)
class GoalSpec:
    """What a goal asks for: ``aggregation`` of the metric per ``period`` reaching ``target`` by ``deadline``.

    ``metric`` is only used to word the explanation ("Monthly revenue (sum) was …").
    """

    target: float
    baseline: float
    start_date: date
    deadline: date
    period: Period
    aggregation: Aggregation
    metric: str | None = None


@dataclass(frozen=True)
class PeriodProgress:
    """One period of the goal: its value, whether it is over, and how far along the goal it is.

    ``projected_value`` is the value expected for the whole period: for an incomplete period of a
    sum or count it is scaled up by the share of days elapsed, otherwise it equals ``value``.
    ``percent`` is the percent of the way from baseline to target of ``projected_value``.
    """

    start: date
    end: date
    value: float | None
    complete: bool
    projected_value: float | None
    percent: float | None


@dataclass(frozen=True)
class GoalProgress:
    """Progress of a goal on a given day; ``outcome`` is the status the goal should move to, if any."""

    direction: Direction
    current_period: PeriodProgress
    latest_complete: PeriodProgress | None
    current_value: float | None
    percent_complete: float | None
    trend_per_period: float | None
    expected_at_deadline: float | None
    signal: Signal
    outcome: Outcome | None
    history: list[PeriodProgress]
    explanation: str


def _validate_spec(spec: GoalSpec) -> None:
    check_period(spec.period)
    if spec.aggregation not in AGGREGATIONS:
        raise ValidationFailed(
            f"Unknown aggregation {spec.aggregation!r}; expected one of {', '.join(AGGREGATIONS)}.",
            details={"aggregation": spec.aggregation, "allowed": list(AGGREGATIONS)},
        )
    if not (math.isfinite(spec.target) and math.isfinite(spec.baseline)):
        raise ValidationFailed(
            "The target and the baseline must be finite numbers.",
            details={"target": str(spec.target), "baseline": str(spec.baseline)},
        )
    if spec.target == spec.baseline:
        raise ValidationFailed(
            f"The target ({_fmt(spec.target)}) equals the baseline; a goal must ask for a change.",
            details={"target": spec.target, "baseline": spec.baseline},
        )
    if spec.deadline < spec.start_date:
        raise ValidationFailed(
            f"The deadline {spec.deadline} is before the start date {spec.start_date}.",
            details={"start_date": spec.start_date.isoformat(), "deadline": spec.deadline.isoformat()},
        )


def _validate_history(period: Period, history: Sequence[PeriodValue]) -> None:
    previous_end: date | None = None
    for index, item in enumerate(history):
        if (item.start, item.end) != period_bounds(period, item.start):
            raise ValidationFailed(
                f"History entry {index} ({item.start.isoformat()} to {item.end.isoformat()}) "
                f"is not a calendar {period}.",
                details={"index": index, "start": item.start.isoformat(), "end": item.end.isoformat()},
            )
        if previous_end is not None and item.start < previous_end:
            raise ValidationFailed(
                f"History entry {index} ({item.start.isoformat()}) is out of order or repeats a period.",
                details={"index": index, "start": item.start.isoformat()},
            )
        if item.value is not None and not math.isfinite(item.value):
            raise ValidationFailed(
                f"History entry {index} ({item.start.isoformat()}) has a non-finite value.",
                details={"index": index, "value": str(item.value)},
            )
        previous_end = item.end


def _observed(period: Period, history: Sequence[PeriodValue], today: date) -> list[tuple[int, float]]:
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
    check_period(period)
    _validate_history(period, history)
    start_period_start = period_bounds(period, start_date)[0]
    for item in reversed(history):
        if item.value is None or item.end > start_period_start:
            continue
        if today is not None and item.end > today:
            continue
        return item.value
    return None


def _ols(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through ``points`` (distinct x values)."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    return slope, mean_y - slope * mean_x


def achievability_warnings(spec: GoalSpec, history: Sequence[PeriodValue], today: date) -> list[str]:
    """Warnings (never errors) when the target needs growth far beyond what the history shows.

    The growth needed per period takes the baseline to the target over the periods from the one
    containing ``today`` through the one containing the deadline. It is a compound rate when the
    baseline, the target and every historical value are positive, an absolute change otherwise,
    and is compared with the period-over-period changes between complete periods of the history.
    The target is flagged when the needed rate is beyond both the best sustained change seen (the
    best average over up to 3 consecutive changes) and 3 standard deviations from the mean change;
    for a decreasing target, "beyond" means below. Returns an empty list when the target is
    plausible, and a single message when the history is too short to judge.
    """
    _validate_spec(spec)
    _validate_history(spec.period, history)
    observed = _observed(spec.period, history, today)
    relative = spec.baseline > 0 and spec.target > 0 and all(value > 0 for _, value in observed)
    changes = [
        (current / previous - 1.0) if relative else (current - previous)
        for (previous_index, previous), (current_index, current) in itertools.pairwise(observed)
        if current_index == previous_index + 1
    ]
    if len(changes) < MIN_CHANGES_TO_JUDGE:
        return [
            f"History is too short to judge whether the target is achievable: {len(changes)} "
            f"{spec.period}-over-{spec.period} change(s) between complete {spec.period}s, "
            f"at least {MIN_CHANGES_TO_JUDGE} needed."
        ]

    steps = max(1, period_index(spec.period, spec.deadline) - period_index(spec.period, today) + 1)
    if relative:
        required = (spec.target / spec.baseline) ** (1.0 / steps) - 1.0
    else:
        required = (spec.target - spec.baseline) / steps
    window = min(SUSTAINED_CHANGES, steps, len(changes))
    sustained = [statistics.fmean(changes[i : i + window]) for i in range(len(changes) - window + 1)]
    mean_change = statistics.fmean(changes)
    spread = statistics.stdev(changes)
    tolerance = _REL_TOL * max(1.0, abs(required))
    if spec.target > spec.baseline:
        best = max(sustained)
        implausible = (
            required > best + tolerance and required > mean_change + IMPLAUSIBLE_SIGMAS * spread + tolerance
        )
    else:
        best = min(sustained)
        implausible = (
            required < best - tolerance and required < mean_change - IMPLAUSIBLE_SIGMAS * spread - tolerance
        )
    if not implausible:
        return []

    def rate(value: float) -> str:
        return f"{value * 100:+.1f}%" if relative else _signed(value)

    deadline_label = _label(spec, spec.deadline)
    plural = "" if steps == 1 else "s"
    return [
        f"Reaching {_fmt(spec.target)} from {_fmt(spec.baseline)} by {deadline_label} needs about "
        f"{rate(required)} per {spec.period} for {steps} {spec.period}{plural}, far beyond the history: "
        f"the best sustained change was {rate(best)} per {spec.period} (average of {window} in a row) "
        f"and the mean change {rate(mean_change)} with a standard deviation of "
        f"{rate(spread).lstrip('+')}. The target may not be achievable."
    ]


def _period_progress(
    spec: GoalSpec, bounds: tuple[date, date], value: float | None, today: date
) -> PeriodProgress:
    start, end = bounds
    complete = end <= today
    projected = value
    if value is not None and not complete and spec.aggregation in _ACCUMULATING:
        # Today counts as a full day: the rollup already holds today's points so far.
        elapsed = (today - start).days + 1
        projected = value * (end - start).days / elapsed
    percent = None if projected is None else _percent(spec, projected)
    return PeriodProgress(start, end, value, complete, projected, percent)


def _percent(spec: GoalSpec, value: float) -> float:
    return 100.0 * (value - spec.baseline) / (spec.target - spec.baseline)


def _meets_target(spec: GoalSpec, value: float) -> bool:
    tolerance = _REL_TOL * max(1.0, abs(spec.target), abs(spec.baseline))
    if spec.target > spec.baseline:
        return value >= spec.target - tolerance
    return value <= spec.target + tolerance


def compute_progress(spec: GoalSpec, history: Sequence[PeriodValue], today: date) -> GoalProgress:
    """Progress of the goal on ``today`` (the tenant's local date), from one value per period.

    The goal window is the periods from the one containing ``start_date`` through the one
    containing ``deadline``; ``history`` should cover it up to the period containing ``today``
    (missing periods count as no data) and may start earlier, which helps the trend. The trend
    is an ordinary least-squares line over the last up-to-6 complete periods with data,
    in or before the window, extrapolated to the deadline's period.
    """
    _validate_spec(spec)
    _validate_history(spec.period, history)
    values = {item.start: item.value for item in history}

    current_bounds = period_bounds(spec.period, today)
    current_period = _period_progress(spec, current_bounds, values.get(current_bounds[0]), today)
    # Periods not started yet carry no information, so the history stops at today's period.
    window = [
        _period_progress(spec, bounds, values.get(bounds[0]), today)
        for bounds in periods_between(spec.period, spec.start_date, spec.deadline)
        if bounds[0] <= today
    ]
    complete_with_data = [entry for entry in window if entry.complete and entry.value is not None]
    latest_complete = complete_with_data[-1] if complete_with_data else None
    current_value = latest_complete.value if latest_complete else current_period.projected_value
    percent_complete = None if current_value is None else _percent(spec, current_value)

    trend_points = _observed(spec.period, history, today)[-TREND_WINDOW:]
    trend: float | None = None
    expected: float | None = None
    if len(trend_points) >= MIN_TREND_POINTS:
        trend, intercept = _ols(trend_points)
        expected = intercept + trend * period_index(spec.period, spec.deadline)

    reached = next(
        (e for e in complete_with_data if e.value is not None and _meets_target(spec, e.value)), None
    )
    signal: Signal
    outcome: Outcome | None = None
    if reached is not None:
        signal = outcome = "achieved"
    elif period_bounds(spec.period, spec.deadline)[1] <= today:
        signal = outcome = "missed"
    elif expected is None:
        signal = "insufficient_data"
    elif _meets_target(spec, expected):
        signal = "on_track"
    elif _percent(spec, expected) >= 100.0 * AT_RISK_SHARE - _REL_TOL:
        signal = "at_risk"
    else:
        signal = "off_track"

    explanation = _explain(
        spec,
        latest_complete=latest_complete,
        current_period=current_period,
        percent_complete=percent_complete,
        signal=signal,
        reached=reached,
        trend=trend,
        expected=expected,
        trend_points=len(trend_points),
    )
    return GoalProgress(
        direction="increase" if spec.target > spec.baseline else "decrease",
        current_period=current_period,
        latest_complete=latest_complete,
        current_value=current_value,
        percent_complete=percent_complete,
        trend_per_period=trend,
        expected_at_deadline=expected,
        signal=signal,
        outcome=outcome,
        history=window,
        explanation=explanation,
    )


def _explain(
    spec: GoalSpec,
    *,
    latest_complete: PeriodProgress | None,
    current_period: PeriodProgress,
    percent_complete: float | None,
    signal: Signal,
    reached: PeriodProgress | None,
    trend: float | None,
    expected: float | None,
    trend_points: int,
) -> str:
    """One or two plain sentences with the numbers behind the signal."""
    adjective = PERIOD_ADJECTIVE[spec.period]
    if spec.metric:
        subject = f"{adjective} {spec.metric} ({spec.aggregation})"
    else:
        subject = f"The {adjective.lower()} {spec.aggregation}"
    span = f"from {_fmt(spec.baseline)} to {_fmt(spec.target)}"
    deadline_label = _label(spec, spec.deadline)

    if latest_complete is not None and latest_complete.value is not None:
        state = f"{subject} was {_fmt(latest_complete.value)} in {_label(spec, latest_complete.start)}"
    elif current_period.value is not None and current_period.projected_value is not None:
        state = f"{subject} is {_fmt(current_period.value)} so far in {_label(spec, current_period.start)}"
        if current_period.projected_value != current_period.value:
            state += f" (on pace for {_fmt(current_period.projected_value)})"
    else:
        state = f"{subject} has no data yet for the goal {span} by {deadline_label}"
    if percent_complete is not None:
        state += f", {percent_complete:,.0f}% of the way {span}"
    state += "."

    if signal == "achieved" and reached is not None:
        outlook = f"The target of {_fmt(spec.target)} was reached in {_label(spec, reached.start)}."
    elif signal == "missed":
        outlook = (
            f"The deadline ({deadline_label}) has passed without reaching the target of {_fmt(spec.target)}."
        )
    elif trend is None or expected is None:
        outlook = (
            f"A trend needs at least {MIN_TREND_POINTS} complete {spec.period}s with data; "
            f"there {'is' if trend_points == 1 else 'are'} {trend_points}."
        )
    else:
        verdict = signal.replace("_", " ")
        outlook = (
            f"At the current trend of {_signed(trend)} per {spec.period} it reaches about "
            f"{_fmt(expected)} by {deadline_label}, so the goal is {verdict}."
        )
    return f"{state} {outlook}"


def _label(spec: GoalSpec, day: date) -> str:
    return period_label(spec.period, period_bounds(spec.period, day)[0])


def _fmt(value: float) -> str:
    """A readable number: thousands separators, whole numbers from 100 up, 3 significant digits below."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _signed(value: float) -> str:
    return f"{'-' if value < 0 else '+'}{_fmt(abs(value))}"
