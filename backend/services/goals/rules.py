"""What a goal is: its validation, the shape of its history, its baseline and the one scale.

The scale (``percent_of``, ``meets``) is the only place that says whether a value meets a
goal's target; progress, outcome and signal all use it, so they cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Final

from backend.services.errors import ValidationFailed
from backend.services.goals.types import AGGREGATIONS, DIRECTIONS, GoalSpec, PeriodValue
from backend.utils.calendar import PERIODS, Period, check_period, period_bounds, period_index

# Tolerance on the percent scale: a trend line fitted to exact data lands a few ulps off.
PERCENT_TOL: Final = 1e-7


def _refuse(message: str, **details: object) -> ValidationFailed:
    return ValidationFailed(message, context=dict(details))


def _period(period: str) -> Period:
    try:
        return check_period(period)
    except ValueError as error:
        raise _refuse(str(error), period=period, allowed=list(PERIODS)) from None


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
            f"The target ({spec.target:,.6g}) equals the baseline; a goal must ask for a change.",
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
    return percent_of(spec, value) >= 100.0 - PERCENT_TOL
