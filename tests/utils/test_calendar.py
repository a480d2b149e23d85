"""The shared calendar: periods as half-open date ranges, shifting, labels and local dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from backend.utils.calendar import (
    DAYS_PER_PERIOD,
    PERIODS,
    check_period,
    local_today,
    period_bounds,
    period_index,
    period_label,
    periods_between,
    shift,
)


@pytest.mark.parametrize(
    ("period", "day", "start", "end"),
    [
        ("day", date(2024, 2, 29), date(2024, 2, 29), date(2024, 3, 1)),
        ("week", date(2024, 1, 3), date(2024, 1, 1), date(2024, 1, 8)),  # Wednesday → Monday
        ("week", date(2024, 1, 7), date(2024, 1, 1), date(2024, 1, 8)),  # Sunday ends the week
        ("week", date(2024, 1, 8), date(2024, 1, 8), date(2024, 1, 15)),  # Monday starts one
        ("week", date(2026, 1, 1), date(2025, 12, 29), date(2026, 1, 5)),  # across the new year
        ("month", date(2024, 2, 29), date(2024, 2, 1), date(2024, 3, 1)),
        ("month", date(2023, 12, 31), date(2023, 12, 1), date(2024, 1, 1)),
        ("quarter", date(2024, 5, 20), date(2024, 4, 1), date(2024, 7, 1)),
        ("quarter", date(2024, 1, 1), date(2024, 1, 1), date(2024, 4, 1)),
        ("quarter", date(2024, 11, 30), date(2024, 10, 1), date(2025, 1, 1)),
        ("year", date(2024, 7, 4), date(2024, 1, 1), date(2025, 1, 1)),
    ],
)
def test_period_bounds_are_the_calendar_period(period: str, day: date, start: date, end: date) -> None:
    assert period_bounds(check_period(period), day) == (start, end)


@pytest.mark.parametrize(
    ("year", "feb_days", "year_days"), [(2024, 29, 366), (2023, 28, 365), (2000, 29, 366)]
)
def test_leap_years_have_a_longer_february_and_year(year: int, feb_days: int, year_days: int) -> None:
    feb_start, feb_end = period_bounds("month", date(year, 2, 14))
    year_start, year_end = period_bounds("year", date(year, 2, 14))
    assert (feb_end - feb_start).days == feb_days
    assert (year_end - year_start).days == year_days


def test_periods_between_includes_both_end_periods() -> None:
    assert periods_between("month", date(2023, 11, 15), date(2024, 1, 2)) == [
        (date(2023, 11, 1), date(2023, 12, 1)),
        (date(2023, 12, 1), date(2024, 1, 1)),
        (date(2024, 1, 1), date(2024, 2, 1)),
    ]
    assert periods_between("week", date(2024, 1, 7), date(2024, 1, 8)) == [
        (date(2024, 1, 1), date(2024, 1, 8)),
        (date(2024, 1, 8), date(2024, 1, 15)),
    ]


def test_periods_between_refuses_an_end_before_the_start() -> None:
    with pytest.raises(ValueError, match="before the start"):
        periods_between("day", date(2024, 1, 2), date(2024, 1, 1))


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown period"):
        check_period("fortnight")


@pytest.mark.parametrize("period", PERIODS)
def test_shift_moves_whole_periods_and_agrees_with_the_index(period: str) -> None:
    known = check_period(period)
    day = date(2024, 2, 29)
    for steps in (-25, -1, 0, 1, 13):
        moved = shift(known, day, steps)
        assert moved == period_bounds(known, moved)[0]
        assert period_index(known, moved) - period_index(known, day) == steps


def test_days_per_period_are_the_gregorian_means() -> None:
    assert DAYS_PER_PERIOD["year"] == pytest.approx(365.2425)
    assert DAYS_PER_PERIOD["quarter"] * 4 == pytest.approx(DAYS_PER_PERIOD["year"])
    assert DAYS_PER_PERIOD["month"] * 12 == pytest.approx(DAYS_PER_PERIOD["year"])
    # 400 Gregorian years hold exactly 146,097 days.
    assert (date(2400, 1, 1) - date(2000, 1, 1)).days == DAYS_PER_PERIOD["year"] * 400


def test_labels() -> None:
    assert period_label("week", date(2026, 10, 5)) == "the week of 2026-10-05"
    assert period_label("quarter", date(2026, 10, 1)) == "2026-Q4"
    assert period_label("month", date(2026, 10, 1)) == "2026-10"


def test_local_today_follows_the_zone() -> None:
    instant = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert local_today(ZoneInfo("America/New_York"), now=instant) == date(2026, 11, 30)
    assert local_today(ZoneInfo("Asia/Tokyo"), now=instant) == date(2026, 12, 1)
