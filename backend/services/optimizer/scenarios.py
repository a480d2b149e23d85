"""Pure helpers of plans built from data: staff needed per day, a budget plan's expected outcome band.

No I/O. Staffing: a day's demand forecast is the mean of the same weekday over the history
(a seasonal-mean forecast), its 95% range the mean ± 1.96 standard deviations of those days;
staff needed = demand / (demand served per staff hour x shift hours), rounded up. Budget: a
channel's expected outcome over the period is its fitted steady-state response at the plan's
spend per bucket; the band reads the MMM's bootstrap curve band at that spend (summed over
channels, so wider than a joint interval — conservative).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from backend.services.evidence.mmm import period_response
from backend.services.evidence.types import MmmFit
from backend.services.optimizer.elasticity import Band

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
Z95 = 1.96


@dataclass(frozen=True)
class DayNeed:
    """One planned day: forecast demand (with its range) and the staff it takes."""

    day: date
    demand: Band
    staff: int
    staff_low: int
    staff_high: int
    history_days: int

    @property
    def weekday(self) -> str:
        return WEEKDAYS[self.day.weekday()]

    @property
    def weekday_name(self) -> str:
        return WEEKDAY_NAMES[self.day.weekday()]


def staff_for(demand: float, per_staff_hour: float, shift_hours: float) -> int:
    """People needed to serve ``demand`` in one shift (0 for no demand)."""
    if demand <= 0:
        return 0
    # A hair below a whole number is that number (float noise, not a person).
    return math.ceil(demand / (per_staff_hour * shift_hours) - 1e-9)


def weekday_forecast(history: Sequence[tuple[date, float]], weekday: int) -> tuple[Band, int]:
    """Mean demand of ``weekday`` (0 = Monday) over the history and its 95% range, and the days used."""
    values = [v for d, v in history if d.weekday() == weekday]
    if not values:
        return Band(0.0, 0.0, 0.0), 0
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return Band(mean, max(0.0, mean - Z95 * spread), mean + Z95 * spread), len(values)


def day_needs(
    history: Sequence[tuple[date, float]], days: Sequence[date], per_staff_hour: float, shift_hours: float
) -> list[DayNeed]:
    """Staff needed on each of ``days`` from the weekday pattern of ``history``."""
    needs = []
    for day in days:
        demand, used = weekday_forecast(history, day.weekday())
        needs.append(
            DayNeed(
                day=day,
                demand=demand,
                staff=staff_for(demand.value, per_staff_hour, shift_hours),
                staff_low=staff_for(demand.low, per_staff_hour, shift_hours),
                staff_high=staff_for(demand.high, per_staff_hour, shift_hours),
                history_days=used,
            )
        )
    return needs


@dataclass(frozen=True)
class OutcomeBand:
    """A budget plan's expected outcome over the period, and whether any spend leaves the data."""

    outcome: Band
    outside_history: bool


def expected_outcome(fit: MmmFit, spends: Mapping[str, float], buckets: float) -> OutcomeBand:
    """Expected channel-driven outcome of spending ``spends`` (per channel, over ``buckets``)."""
    point = low = high = 0.0
    outside = False
    for channel in fit.channels:
        spend = spends.get(channel.name, 0.0)
        point += period_response(channel, spend, buckets)
        per_bucket = spend / buckets
        grid = [p.spend for p in channel.response_curve]
        outside = outside or per_bucket > grid[-1]
        low += buckets * float(np.interp(per_bucket, grid, [p.low for p in channel.response_curve]))
        high += buckets * float(np.interp(per_bucket, grid, [p.high for p in channel.response_curve]))
    return OutcomeBand(Band(point, min(low, point), max(high, point)), outside)
