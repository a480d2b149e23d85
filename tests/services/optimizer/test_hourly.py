"""Staff by the hour, pure: which data counts as hourly, how the day is cut, what a shift needs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from backend.services.optimizer.hourly import (
    ShiftBlock,
    hour_history,
    is_hourly,
    opening_hours,
    shift_blocks,
    shift_needs,
)

SATURDAYS = [date(2026, 11, 7), date(2026, 11, 14)]


def test_a_daily_metric_stamped_at_one_or_two_times_of_day_is_not_hourly() -> None:
    assert not is_hourly({d: {12: 80.0} for d in SATURDAYS})
    assert not is_hourly({SATURDAYS[0]: {0: 80.0}, SATURDAYS[1]: {12: 80.0}})
    assert is_hourly({SATURDAYS[0]: {9: 1.0, 10: 2.0}, SATURDAYS[1]: {11: 1.0}})
    # Hours with no demand do not count.
    assert not is_hourly({SATURDAYS[0]: {9: 1.0, 10: 0.0, 11: 0.0}})


def test_buckets_land_on_the_local_day_and_hour() -> None:
    zone = ZoneInfo("America/New_York")
    stamped = [
        (datetime(2026, 11, 8, 2, 30, tzinfo=UTC), 3.0),
        (datetime(2026, 11, 8, 2, 45, tzinfo=UTC), 1.0),
    ]
    assert hour_history(stamped, zone) == {date(2026, 11, 7): {21: 4.0}}


@pytest.mark.parametrize(
    ("opening", "length", "names"),
    [
        ((9, 21), 8.0, ["09-17", "17-21"]),
        ((9, 21), 6.0, ["09-15", "15-21"]),
        ((9, 21), 24.0, ["09-21"]),
        ((8, 11), 0.4, ["08-09", "09-10", "10-11"]),
    ],
)
def test_shifts_tile_the_opening_hours_from_the_first(
    opening: tuple[int, int], length: float, names: list[str]
) -> None:
    blocks = shift_blocks(opening, length)
    assert [b.name for b in blocks] == names
    assert blocks[0].start_hour == opening[0] and blocks[-1].start_hour + blocks[-1].hours == opening[1]


def test_a_shift_is_staffed_for_its_busiest_hour_of_that_weekday() -> None:
    history = {
        SATURDAYS[0]: {9: 4.0, 13: 20.0, 18: 9.0},
        SATURDAYS[1]: {9: 6.0, 13: 24.0},  # no demand recorded at 18:00 counts as 0
        date(2026, 11, 9): {9: 100.0},  # a Monday: not part of Saturday's pattern
    }
    assert opening_hours(history) == (9, 19)
    day, late = shift_needs(history, date(2026, 11, 21), [ShiftBlock(9, 8), ShiftBlock(17, 2)], 5.0)
    assert (day.peak_hour, day.peak.value, day.staff) == (13, 22.0, 5)
    assert (late.peak_hour, late.peak.value, late.staff) == (18, 4.5, 1)
    assert day.staff_low <= day.staff <= day.staff_high and late.staff_low == 0


def test_a_weekday_without_history_needs_no_one() -> None:
    (need,) = shift_needs({SATURDAYS[0]: {9: 5.0}}, date(2026, 11, 23), [ShiftBlock(9, 8)], 5.0)
    assert need.staff == need.staff_high == 0 and need.peak.value == 0.0
