"""Goal progress on synthetic series whose answers are worked out by hand in each test."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from backend.services.errors import ValidationFailed
from backend.services.goals.achievability import achievability_warnings
from backend.services.goals.progress import compute_progress
from backend.services.goals.rules import baseline_from_history
from backend.services.goals.types import Aggregation, Direction, GoalSpec, PeriodValue


def _months(first: date, values: list[float | None]) -> list[PeriodValue]:
    """One PeriodValue per calendar month from ``first`` (a 1st), built without the code under test."""
    out: list[PeriodValue] = []
    year, month = first.year, first.month
    for value in values:
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        out.append(PeriodValue(date(year, month, 1), date(next_year, next_month, 1), value))
        year, month = next_year, next_month
    return out


# Revenue growing by exactly 1,000 a month: Sep 2025 = 32,000 … Feb 2026 = 37,000, then March 2026
# in progress with 10,000 so far. The goal asks for 46,000 a month by June 2026 from 35,000 (Dec).
LINEAR = _months(date(2025, 9, 1), [32_000, 33_000, 34_000, 35_000, 36_000, 37_000, 10_000])
MID_MARCH = date(2026, 3, 10)


def _spec(
    target: float = 46_000,
    *,
    baseline: float = 35_000,
    start: date = date(2026, 1, 1),
    deadline: date = date(2026, 6, 30),
    aggregation: Aggregation = "sum",
    metric: str | None = "revenue",
    direction: Direction | None = None,
) -> GoalSpec:
    return GoalSpec(
        target=target,
        baseline=baseline,
        start_date=start,
        deadline=deadline,
        period="month",
        aggregation=aggregation,
        direction=direction or ("increase" if target > baseline else "decrease"),
        metric=metric,
    )


# --- baseline -----------------------------------------------------------------------------------


def test_baseline_is_the_last_period_before_the_start_period() -> None:
    history = _months(date(2025, 10, 1), [10.0, 20.0, 30.0, 40.0])  # Oct, Nov, Dec, Jan
    assert baseline_from_history("month", history, date(2026, 1, 15)) == 30.0


def test_baseline_skips_periods_without_data() -> None:
    history = _months(date(2025, 10, 1), [10.0, 20.0, None, 40.0])
    assert baseline_from_history("month", history, date(2026, 1, 15)) == 20.0
    assert baseline_from_history("month", _months(date(2025, 10, 1), [None, None]), date(2026, 1, 1)) is None
    assert baseline_from_history("month", [], date(2026, 1, 1)) is None


def test_baseline_of_a_future_goal_ignores_the_period_still_running() -> None:
    history = _months(date(2026, 1, 1), [100.0, 110.0, 40.0])  # Jan, Feb, March in progress
    # Goal starts in April; March is before it but not over on 10 March.
    assert baseline_from_history("month", history, date(2026, 4, 1), today=MID_MARCH) == 110.0
    assert baseline_from_history("month", history, date(2026, 4, 1)) == 40.0


# --- progress on a linear series ----------------------------------------------------------------


def test_linear_series_progress_matches_the_hand_computation() -> None:
    progress = compute_progress(_spec(), LINEAR, MID_MARCH)

    assert progress.direction == "increase"
    assert progress.latest_complete is not None
    assert progress.latest_complete.start == date(2026, 2, 1)
    assert progress.current_value == 37_000
    # (37,000 − 35,000) / (46,000 − 35,000) = 2/11
    assert progress.percent_complete == pytest.approx(200 / 11)
    # Sep…Feb rise by exactly 1,000 a month; June is 4 months after Feb's 37,000.
    assert progress.trend_per_period == pytest.approx(1_000)
    assert progress.expected_at_deadline == pytest.approx(41_000)
    # 41,000 is 6/11 ≈ 55% of the way: below the 80% of "at risk".
    assert progress.signal == "off_track"
    assert progress.outcome is None
    assert [(e.start, e.complete) for e in progress.history] == [
        (date(2026, 1, 1), True),
        (date(2026, 2, 1), True),
        (date(2026, 3, 1), False),
    ]
    assert progress.history[0].percent == pytest.approx(100 / 11)
    text = progress.explanation
    assert "Monthly revenue (sum) was 37,000 in 2026-02" in text
    assert "18% of the way from 35,000 to 46,000" in text
    assert "+1,000 per month" in text and "41,000 in 2026-06" in text and "off track" in text


@pytest.mark.parametrize(
    ("target", "signal"),
    [
        (41_000, "on_track"),  # the trend lands exactly on the target
        (42_000, "at_risk"),  # 6,000 / 7,000 ≈ 86% of the way
        (42_500, "at_risk"),  # 6,000 / 7,500 = exactly 80%
        (42_600, "off_track"),  # 6,000 / 7,600 ≈ 79%
    ],
)
def test_trend_signal_boundaries(target: float, signal: str) -> None:
    assert compute_progress(_spec(target), LINEAR, MID_MARCH).signal == signal


def test_trend_uses_real_period_positions_across_gaps() -> None:
    # 10, (no data), 30, 40 lie on a line of slope 10 per month only if the gap keeps its place.
    history = _months(date(2025, 10, 1), [10.0, None, 30.0, 40.0, 1.0])
    spec = _spec(100, baseline=40, start=date(2026, 1, 1), deadline=date(2026, 12, 31))
    progress = compute_progress(spec, history, date(2026, 2, 3))
    assert progress.trend_per_period == pytest.approx(10)
    assert progress.expected_at_deadline == pytest.approx(40 + 11 * 10)  # Jan → Dec


def test_trend_fits_only_the_last_six_complete_periods() -> None:
    # Jan … Aug 2025; the fit sees Mar … Aug = 0, 0, 0, 0, 10, 10 at x = 0 … 5:
    # slope = Σ(x − 2.5)·y / Σ(x − 2.5)² = (1.5·10 + 2.5·10) / 17.5 = 16/7,
    # intercept = 10/3 − 16/7 · 2.5 = −50/21, and December is x = 9.
    history = _months(date(2025, 1, 1), [100.0, 100.0, 0.0, 0.0, 0.0, 0.0, 10.0, 10.0])
    spec = _spec(30, baseline=10, start=date(2025, 9, 1), deadline=date(2025, 12, 31))
    progress = compute_progress(spec, history, date(2025, 9, 5))
    assert progress.trend_per_period == pytest.approx(16 / 7)
    assert progress.expected_at_deadline == pytest.approx(-50 / 21 + 16 / 7 * 9)


def test_fewer_than_three_complete_periods_give_no_trend() -> None:
    history = _months(date(2026, 1, 1), [36_000, 37_000, 10_000])
    progress = compute_progress(_spec(), history, MID_MARCH)
    assert progress.trend_per_period is None and progress.expected_at_deadline is None
    assert progress.signal == "insufficient_data"
    assert progress.percent_complete == pytest.approx(200 / 11)
    assert "at least 3 complete months" in progress.explanation


# --- achieved and missed ------------------------------------------------------------------------


def test_a_complete_period_on_target_before_the_deadline_is_achieved() -> None:
    progress = compute_progress(_spec(37_000), LINEAR, MID_MARCH)
    assert progress.signal == "achieved" and progress.outcome == "achieved"
    assert "reached in 2026-02" in progress.explanation


def test_a_partial_period_above_target_is_not_achieved_until_it_completes() -> None:
    # Monthly average: March so far averages 50,000, above the 40,000 target, but March is not over.
    history = _months(date(2025, 9, 1), [32_000, 33_000, 34_000, 35_000, 36_000, 37_000, 50_000])
    spec = _spec(40_000, aggregation="avg")
    during = compute_progress(spec, history, MID_MARCH)
    assert during.current_period.value == 50_000 and not during.current_period.complete
    assert during.outcome is None
    assert during.signal == "on_track"  # the trend still reaches 41,000 by June
    after = compute_progress(spec, history, date(2026, 4, 1))
    assert after.signal == "achieved" and after.outcome == "achieved"
    assert after.latest_complete is not None and after.latest_complete.start == date(2026, 3, 1)


def test_goal_is_missed_once_the_deadline_period_is_complete() -> None:
    spec = _spec(46_000, deadline=date(2026, 2, 15))
    history = _months(date(2025, 9, 1), [32_000, 33_000, 34_000, 35_000, 36_000, 37_000])
    on_last_day = compute_progress(spec, history, date(2026, 2, 28))
    assert on_last_day.outcome is None and on_last_day.signal == "off_track"
    after = compute_progress(spec, history, date(2026, 3, 1))
    assert after.signal == "missed" and after.outcome == "missed"
    assert "has passed" in after.explanation


def test_reaching_the_target_wins_over_the_deadline_passing() -> None:
    spec = _spec(36_000, deadline=date(2026, 2, 15))
    progress = compute_progress(spec, LINEAR, date(2026, 4, 2))
    assert progress.outcome == "achieved"


# --- decreasing goals -------------------------------------------------------------------------


# Monthly cost falling by 250: Sep 10,750 … Dec 10,000 (baseline) … Feb 9,500; March in progress.
COSTS = _months(date(2025, 9, 1), [10_750, 10_500, 10_250, 10_000, 9_750, 9_500, 3_000])


def test_decreasing_goal_progress() -> None:
    progress = compute_progress(_spec(8_000, baseline=10_000, metric="cost"), COSTS, MID_MARCH)
    assert progress.direction == "decrease"
    # (9,500 − 10,000) / (8,000 − 10,000) = 25%
    assert progress.percent_complete == pytest.approx(25)
    assert progress.trend_per_period == pytest.approx(-250)
    assert progress.expected_at_deadline == pytest.approx(8_500)  # 9,500 − 4 × 250
    assert progress.signal == "off_track"  # 1,500 / 2,000 = 75% of the way
    assert "-250 per month" in progress.explanation


@pytest.mark.parametrize(("target", "signal"), [(8_500, "on_track"), (8_200, "at_risk"), (9_600, "achieved")])
def test_decreasing_goal_signals(target: float, signal: str) -> None:
    # 8,200: the trend covers 1,500 of 1,800 (83%); 9,600: February's 9,500 is already at or below it.
    assert compute_progress(_spec(target, baseline=10_000), COSTS, MID_MARCH).signal == signal


# --- partial current period ---------------------------------------------------------------------


def test_partial_month_sum_is_scaled_to_the_whole_month() -> None:
    progress = compute_progress(_spec(), LINEAR, MID_MARCH)
    # 10,000 in the first 9 of March's 31 days: today, the 10th, has no data yet and does not count.
    assert progress.current_period.projected_value == pytest.approx(10_000 * 31 / 9)


def test_pace_counts_the_days_through_the_last_day_with_data() -> None:
    # The case: 14,911 over the 3 days with data of a week whose 4th day (today) has none yet.
    monday = date(2026, 11, 30)
    week = PeriodValue(monday, monday + timedelta(days=7), 14_911.0, data_through=monday + timedelta(days=2))
    spec = GoalSpec(40_000, 30_000, monday, date(2027, 1, 31), "week", "sum", "increase")
    on_thursday = compute_progress(spec, [week], monday + timedelta(days=3))
    assert on_thursday.current_period.projected_value == pytest.approx(14_911 * 7 / 3)  # 34,792, not 26,095
    # Once today's data is in, today counts.
    with_today = PeriodValue(
        monday, monday + timedelta(days=7), 20_000.0, data_through=monday + timedelta(days=3)
    )
    assert compute_progress(
        spec, [with_today], monday + timedelta(days=3)
    ).current_period.projected_value == (pytest.approx(20_000 * 7 / 4))


def test_partial_month_average_is_not_scaled() -> None:
    history = _months(date(2026, 1, 1), [4.0, 4.5, 5.0])
    progress = compute_progress(_spec(6, baseline=4, aggregation="avg"), history, MID_MARCH)
    assert progress.current_period.projected_value == 5.0


def test_partial_week_count_is_scaled_by_days_elapsed() -> None:
    # Wednesday 2026-03-11 is day 3 of the week starting Monday 2026-03-09, and has data.
    history = [PeriodValue(date(2026, 3, 9), date(2026, 3, 16), 30.0, data_through=date(2026, 3, 11))]
    spec = GoalSpec(80, 50, date(2026, 3, 9), date(2026, 4, 30), "week", "count", "increase")
    progress = compute_progress(spec, history, date(2026, 3, 11))
    assert progress.current_period.projected_value == pytest.approx(30 * 7 / 3)
    # No complete period in the goal yet, so the projection is the current value: (70 − 50) / 30.
    assert progress.latest_complete is None
    assert progress.current_value == pytest.approx(70)
    assert progress.percent_complete == pytest.approx(200 / 3)
    assert "on pace for 70" in progress.explanation


def test_partial_leap_february_sum_uses_29_days() -> None:
    history = [PeriodValue(date(2024, 2, 1), date(2024, 3, 1), 1_000.0, data_through=date(2024, 2, 10))]
    spec = _spec(5_000, baseline=2_000, start=date(2024, 2, 1), deadline=date(2024, 6, 30))
    progress = compute_progress(spec, history, date(2024, 2, 10))
    assert progress.current_period.projected_value == pytest.approx(1_000 * 29 / 10)


def test_no_data_gives_no_current_value() -> None:
    progress = compute_progress(_spec(), _months(date(2026, 1, 1), [None, None, None]), MID_MARCH)
    assert progress.current_value is None and progress.percent_complete is None
    assert progress.current_period.projected_value is None
    assert progress.signal == "insufficient_data"
    assert "no data yet" in progress.explanation


# --- achievability --------------------------------------------------------------------------


# Monthly changes of +1%, +3%, +2%, +4%, +1%, +3% (Jan … Jul 2025): mean 2.33%, standard deviation
# sqrt(7.333/5) ≈ 1.21%, best 3-month average (3% + 2% + 4%) / 3 = 3%.
_CHANGES = [0.01, 0.03, 0.02, 0.04, 0.01, 0.03]
_VALUES = [1_000.0]
for _change in _CHANGES:
    _VALUES.append(_VALUES[-1] * (1 + _change))
GROWING = _months(date(2025, 1, 1), [*_VALUES, 500.0])  # Jan … Jul complete, Aug in progress
AUGUST = date(2025, 8, 12)
BASE = _VALUES[-1]


def _growth_spec(monthly_rate: float, months: int = 3) -> GoalSpec:
    # August, September, October: three months from today through the deadline.
    deadline = date(2025, 7 + months, 28)
    return GoalSpec(BASE * (1 + monthly_rate) ** months, BASE, AUGUST, deadline, "month", "sum", "increase")


def test_plausible_target_gives_no_warning() -> None:
    assert achievability_warnings(_growth_spec(0.025), GROWING, AUGUST) == []


def test_beyond_the_best_streak_but_within_normal_variation_gives_no_warning() -> None:
    # 3.5% a month was never sustained (best 3%), but is within 3 standard deviations of the mean.
    assert achievability_warnings(_growth_spec(0.035), GROWING, AUGUST) == []


def test_implausible_growth_is_warned_with_the_numbers() -> None:
    spec = GoalSpec(2 * BASE, BASE, AUGUST, date(2025, 10, 31), "month", "sum", "increase")
    warnings = achievability_warnings(spec, GROWING, AUGUST)
    assert len(warnings) == 1
    # Doubling in 3 months needs 2^(1/3) − 1 ≈ 26.0% a month.
    assert f"{(2 ** (1 / 3) - 1) * 100:+.1f}%" in warnings[0]
    assert "+3.0%" in warnings[0]  # the best sustained change
    assert "may not be achievable" in warnings[0]


def test_implausible_decrease_is_warned() -> None:
    spec = GoalSpec(BASE / 2, BASE, AUGUST, date(2025, 9, 30), "month", "sum", "decrease")
    warnings = achievability_warnings(spec, GROWING, AUGUST)
    assert len(warnings) == 1
    assert f"{(math.sqrt(0.5) - 1) * 100:+.1f}%" in warnings[0]  # halving in 2 months ≈ −29.3% a month


def test_values_crossing_zero_are_judged_by_absolute_change() -> None:
    # Monthly profit rising by about 100 a month from −800 to −200 (July); reaching 5,000 from −200
    # in 3 months needs 5,200 / 3 ≈ 1,733 a month; the changes 110, 80, 110, 80, 120, 100 have a
    # best 3-month average of (110 + 80 + 120) / 3 ≈ 103.
    profit = _months(date(2025, 1, 1), [-800.0, -690.0, -610.0, -500.0, -420.0, -300.0, -200.0, 50.0])
    spec = GoalSpec(5_000, -200, AUGUST, date(2025, 10, 31), "month", "sum", "increase")
    warnings = achievability_warnings(spec, profit, AUGUST)
    assert len(warnings) == 1 and "+1,733 per month" in warnings[0] and "+103 per month" in warnings[0]
    assert (
        achievability_warnings(
            GoalSpec(100, -200, AUGUST, date(2025, 10, 31), "month", "sum", "increase"), profit, AUGUST
        )
        == []
    )


def test_short_history_is_too_short_to_judge() -> None:
    history = _months(date(2025, 5, 1), [100.0, 110.0, 120.0, 10.0])  # 3 complete months: 2 changes
    warnings = achievability_warnings(
        GoalSpec(1_000, 120, AUGUST, date(2025, 9, 30), "month", "sum", "increase"), history, AUGUST
    )
    assert len(warnings) == 1 and "too short" in warnings[0]


# --- validation -----------------------------------------------------------------------------


def test_target_equal_to_baseline_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        compute_progress(_spec(35_000), LINEAR, MID_MARCH)
    with pytest.raises(ValidationFailed):
        achievability_warnings(_spec(35_000), LINEAR, MID_MARCH)


def test_deadline_before_start_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        compute_progress(_spec(start=date(2026, 7, 1)), LINEAR, MID_MARCH)


def test_history_not_aligned_to_the_goal_period_is_refused() -> None:
    shifted = [PeriodValue(date(2026, 1, 2), date(2026, 2, 2), 1.0)]
    with pytest.raises(ValidationFailed) as raised:
        compute_progress(_spec(), shifted, MID_MARCH)
    assert raised.value.context["index"] == 0
    with pytest.raises(ValidationFailed):
        compute_progress(_spec(), [*LINEAR[3:], LINEAR[0]], MID_MARCH)  # out of order


def test_non_finite_value_is_refused() -> None:
    history = [*LINEAR[:-1], PeriodValue(date(2026, 3, 1), date(2026, 4, 1), math.nan)]
    with pytest.raises(ValidationFailed):
        compute_progress(_spec(), history, MID_MARCH)
