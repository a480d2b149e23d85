"""The words of a goal's progress: two or three sentences with the numbers behind the signal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from backend.services.goals.rules import baseline_meets_target
from backend.services.goals.types import STATUS_LEVEL, Estimate, GoalSpec, PeriodProgress, Projection, Signal
from backend.utils.calendar import PERIOD_ADJECTIVE, Period, period_bounds, period_label


@dataclass(frozen=True)
class Outlook:
    """What the words of a goal's outlook rest on: the signal, the period that reached the target,
    the projection, and the trend with how many complete periods it had (and needs)."""

    signal: Signal
    reached: PeriodProgress | None
    projection: Projection | None
    slope: float | None
    trend_points: int
    min_trend_points: int


def explain(
    spec: GoalSpec,
    latest_complete: PeriodProgress | None,
    current_period: PeriodProgress,
    percent_complete: float | None,
    outlook: Outlook,
) -> str:
    """Two or three plain sentences with the numbers behind the signal."""
    return " ".join(
        part
        for part in (
            _state(spec, latest_complete, current_period, percent_complete),
            _outlook(spec, outlook),
            _note(outlook.projection),
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


def _outlook(spec: GoalSpec, outlook: Outlook) -> str:
    signal, reached, projection, slope = outlook.signal, outlook.reached, outlook.projection, outlook.slope
    trend_points, min_trend_points = outlook.trend_points, outlook.min_trend_points
    deadline_label = period_label_of(spec.period, spec.deadline)
    if signal == "achieved" and reached is not None:
        return f"The target of {fmt(spec.target)} was reached in {period_label(spec.period, reached.start)}."
    if signal == "missed":
        return (
            f"The deadline ({deadline_label}) has passed without reaching the target of {fmt(spec.target)}."
        )
    if projection is None or signal == "insufficient_data":
        return (
            f"A trend needs at least {min_trend_points} complete {spec.period}s with data; "
            f"there {'is' if trend_points == 1 else 'are'} {trend_points}."
        )
    if projection.method == "forecast":
        lead = f"The forecast ({projection.model}) expects"
    elif projection.method == "linear" and slope is not None:
        lead = f"At the current trend of {signed(slope)} per {spec.period} it reaches about"
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
