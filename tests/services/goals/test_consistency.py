"""Percent complete, outcome and signal never contradict each other, over random goals and data.

Random monthly goals (either direction, any aggregation, baselines on either side of the target),
random histories with gaps and a partial current month, and random forecaster answers (intervals,
refusals, none). The properties are those an owner reads off the progress response.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.services.goals.progress import compute_progress
from backend.services.goals.rules import meets
from backend.services.goals.types import (
    ForecastOutcome,
    GoalProgress,
    GoalSpec,
    PeriodForecast,
    PeriodValue,
)
from backend.utils.calendar import period_bounds, shift

FIRST = date(2025, 1, 1)
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[GoalSpec, list[PeriodValue], date, ForecastOutcome | None]:
    start = shift("month", FIRST, draw(st.integers(0, 12))) + timedelta(days=draw(st.integers(0, 27)))
    deadline = start + timedelta(days=draw(st.integers(1, 400)))
    today = shift("month", start, draw(st.integers(-3, 15))) + timedelta(days=draw(st.integers(0, 27)))
    target, baseline = draw(values), draw(values)
    if target == baseline:
        baseline = target + 1.0
    spec = GoalSpec(
        target=target,
        baseline=baseline,
        start_date=start,
        deadline=deadline,
        period="month",
        aggregation=draw(st.sampled_from(["sum", "avg", "min", "max", "last", "count"])),
        direction=draw(st.sampled_from(["increase", "decrease"])),
        metric="revenue",
    )
    history = []
    month = FIRST
    current = period_bounds("month", today)[0]
    while month <= current:
        value = draw(st.none() | values)
        end = shift("month", month, 1)
        through = None
        if month == current and value is not None:
            through = month + timedelta(days=draw(st.integers(0, (today - month).days)))
        history.append(PeriodValue(month, end, value, through))
        month = end
    return spec, history, today, draw(forecasts(today, deadline))


def forecasts(today: date, deadline: date) -> st.SearchStrategy[ForecastOutcome | None]:
    first = period_bounds("month", today)[0]
    count = max(0, (deadline.year - first.year) * 12 + deadline.month - first.month + 1)

    @st.composite
    def answered(draw: st.DrawFn) -> ForecastOutcome:
        periods = []
        for step in range(count):
            start = shift("month", first, step)
            mean = draw(values)
            low80, high80 = mean - draw(st.floats(0, 1e5)), mean + draw(st.floats(0, 1e5))
            low95, high95 = low80 - draw(st.floats(0, 1e5)), high80 + draw(st.floats(0, 1e5))
            periods.append(
                PeriodForecast(
                    start, shift("month", start, 1), mean, {80: low80, 95: low95}, {80: high80, 95: high95}
                )
            )
        return ForecastOutcome(periods=periods, model="test", season_length=12)

    return st.none() | st.just(ForecastOutcome(refused="too short")) | answered()


def _mirror(
    spec: GoalSpec, history: list[PeriodValue], forecast: ForecastOutcome | None
) -> tuple[GoalSpec, list[PeriodValue], ForecastOutcome | None]:
    """The same goal seen upside down: values negated, the direction flipped."""
    flipped = replace(
        spec,
        target=-spec.target,
        baseline=-spec.baseline,
        direction="decrease" if spec.direction == "increase" else "increase",
    )
    mirrored = [replace(item, value=None if item.value is None else -item.value) for item in history]
    if forecast is not None and forecast.periods:
        periods = [
            replace(
                p,
                mean=-p.mean,
                lower={k: -v for k, v in p.upper.items()},
                upper={k: -v for k, v in p.lower.items()},
            )
            for p in forecast.periods
        ]
        forecast = replace(forecast, periods=periods)
    return flipped, mirrored, forecast


def _check(spec: GoalSpec, progress: GoalProgress, today: date) -> None:
    complete = [e for e in progress.history if e.complete and e.value is not None]
    any_met = any(meets(spec, e.value) for e in complete if e.value is not None)
    deadline_over = period_bounds("month", spec.deadline)[1] <= today
    # met ⇔ achieved, and the outcome says the same as the signal.
    assert (progress.signal == "achieved") == any_met == (progress.outcome == "achieved")
    assert (progress.signal == "missed") == (deadline_over and not any_met) == (progress.outcome == "missed")
    percent = progress.percent_complete
    if percent is not None:
        assert progress.current_value is not None
        assert (percent >= 100 - 1e-6) == meets(spec, progress.current_value) or abs(percent - 100) < 1e-6
    # At or past the target, the goal is achieved or on track: never at risk, off track or missed.
    if percent is not None and meets(spec, progress.current_value or 0.0):
        assert progress.signal in ("achieved", "on_track")
    if progress.signal in ("at_risk", "off_track", "missed"):
        assert percent is None or not meets(spec, progress.current_value or 0.0)
    if progress.signal == "achieved":
        assert progress.reached is not None and progress.current_value == progress.reached.value
        assert percent is not None and percent >= 100 - 1e-6
    if progress.signal in ("on_track", "at_risk", "off_track"):
        assert progress.projection is not None


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_percent_status_and_signal_never_contradict(
    scenario: tuple[GoalSpec, list[PeriodValue], date, ForecastOutcome | None],
) -> None:
    spec, history, today, forecast = scenario
    _check(spec, compute_progress(spec, history, today, forecast), today)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_decrease_goals_are_the_mirror_of_increase_goals(
    scenario: tuple[GoalSpec, list[PeriodValue], date, ForecastOutcome | None],
) -> None:
    spec, history, today, forecast = scenario
    progress = compute_progress(spec, history, today, forecast)
    mirror = compute_progress(
        *_mirror(spec, history, forecast)[:2], today, _mirror(spec, history, forecast)[2]
    )
    assert (mirror.signal, mirror.outcome, mirror.direction != progress.direction) == (
        progress.signal,
        progress.outcome,
        True,
    )
    if progress.percent_complete is None:
        assert mirror.percent_complete is None
    else:
        assert mirror.percent_complete == pytest.approx(progress.percent_complete, rel=1e-9, abs=1e-6)


def test_the_issue_goal_is_an_increase_goal_that_is_never_both_achieved_and_off_track() -> None:
    # "Monthly revenue to $135k", set after a November of 150,198: the baseline already meets it.
    november = PeriodValue(date(2026, 11, 1), date(2026, 12, 1), 150_198.0)
    december = PeriodValue(date(2026, 12, 1), date(2027, 1, 1), 14_911.0, data_through=date(2026, 12, 3))
    spec = GoalSpec(
        135_000, 150_198, date(2026, 12, 4), date(2027, 6, 30), "month", "sum", "increase", "revenue"
    )
    progress = compute_progress(spec, [november, december], date(2026, 12, 4))
    assert progress.direction == "increase"
    # December's pace: 14,911 over 3 days with data → 154,080 for 31 days, 114% of the target.
    assert progress.current_value == pytest.approx(14_911 * 31 / 3)
    assert progress.percent_complete == pytest.approx(100 * 14_911 * 31 / 3 / 135_000)
    assert progress.signal == "on_track" and progress.outcome is None
