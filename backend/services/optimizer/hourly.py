"""Staff by the hour: shifts that tile the opening hours, each staffed for its busiest hour.

No I/O. When a demand metric is recorded by the hour (on at least ``HOURLY_MIN_HOURS`` distinct
hours of the day), a planned day's demand in each hour is forecast as the mean of that hour on the
same weekday over the history (the hour-of-day pattern of each weekday; a day in the history
without demand in an hour counts as 0 there), its 95% range the mean ± 1.96 standard deviations.
The opening hours run from the first to the last hour with demand on any weekday; they are cut
into back-to-back shifts of the asked length from the opening (the last one shorter when the day
does not divide). A shift needs, for its busiest hour, demand / (demand served per staff hour),
rounded up: everyone on a shift works all of it, so its peak decides.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from backend.services.optimizer.elasticity import Band
from backend.services.optimizer.scenarios import Z95, staff_for

HOURLY_MIN_HOURS = 3
"""Distinct hours of the day with demand before a metric counts as recorded by the hour (a daily
metric stamped at one time of day, or at midnight and noon, does not)."""

HourHistory = Mapping[date, Mapping[int, float]]
"""Demand per local day and hour of the day (0–23)."""


@dataclass(frozen=True)
class ShiftBlock:
    """One shift of the day: ``hours`` from ``start_hour`` (local time)."""

    start_hour: int
    hours: int

    @property
    def name(self) -> str:
        return f"{self.start_hour:02d}-{self.start_hour + self.hours:02d}"

    @property
    def span(self) -> range:
        return range(self.start_hour, self.start_hour + self.hours)


@dataclass(frozen=True)
class ShiftNeed:
    """A planned day's shift: the forecast of its busiest hour and the staff that hour takes."""

    shift: ShiftBlock
    peak_hour: int
    peak: Band
    staff: int
    staff_low: int
    staff_high: int


def hour_history(stamped: Iterable[tuple[datetime, float]], zone: ZoneInfo) -> dict[date, dict[int, float]]:
    """Hourly buckets as demand per local day and hour of the day."""
    days: dict[date, dict[int, float]] = defaultdict(dict)
    for ts, value in stamped:
        local = ts.astimezone(zone)
        days[local.date()][local.hour] = days[local.date()].get(local.hour, 0.0) + value
    return dict(days)


def is_hourly(history: HourHistory) -> bool:
    """Whether the demand is recorded on enough distinct hours of the day to plan by the hour."""
    hours = {hour for by_hour in history.values() for hour, value in by_hour.items() if value > 0}
    return len(hours) >= HOURLY_MIN_HOURS


def opening_hours(history: HourHistory) -> tuple[int, int]:
    """First hour with demand on any day, and the hour after the last one."""
    hours = [hour for by_hour in history.values() for hour, value in by_hour.items() if value > 0]
    return min(hours), max(hours) + 1


def shift_blocks(opening: tuple[int, int], shift_hours: float) -> list[ShiftBlock]:
    """Back-to-back shifts of ``shift_hours`` (whole hours, at least one) from the opening."""
    start, close = opening
    length = max(1, round(shift_hours))
    return [ShiftBlock(hour, min(length, close - hour)) for hour in range(start, close, length)]


def hour_forecast(history: HourHistory, weekday: int, hour: int) -> Band:
    """Mean demand in ``hour`` of ``weekday`` (0 = Monday) over the history's days, with its 95% range."""
    values = [by_hour.get(hour, 0.0) for day, by_hour in history.items() if day.weekday() == weekday]
    if not values:
        return Band(0.0, 0.0, 0.0)
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return Band(mean, max(0.0, mean - Z95 * spread), mean + Z95 * spread)


def shift_needs(
    history: HourHistory, day: date, blocks: Sequence[ShiftBlock], per_staff_hour: float
) -> list[ShiftNeed]:
    """Each shift of ``day``: its busiest hour's forecast and the staff to serve it."""
    needs = []
    for block in blocks:
        forecasts = {hour: hour_forecast(history, day.weekday(), hour) for hour in block.span}
        peak_hour = max(block.span, key=lambda hour: (forecasts[hour].value, -hour))
        peak = forecasts[peak_hour]
        needs.append(
            ShiftNeed(
                shift=block,
                peak_hour=peak_hour,
                peak=peak,
                staff=staff_for(peak.value, per_staff_hour, 1.0),
                staff_low=staff_for(max(f.low for f in forecasts.values()), per_staff_hour, 1.0),
                staff_high=staff_for(max(f.high for f in forecasts.values()), per_staff_hour, 1.0),
            )
        )
    return needs
