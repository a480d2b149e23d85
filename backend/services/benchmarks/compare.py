"""Placing a value among benchmark percentiles, and benchmark periods (pure)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from backend.utils.calendar import PERIODS as PERIODS


def last_complete_period(period: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the last complete ``period`` before ``now``, in ``zone``."""
    local = now.astimezone(zone)
    today = datetime.combine(local.date(), time(0), tzinfo=zone)
    if period == "day":
        return today - timedelta(days=1), today
    if period == "week":
        current = today - timedelta(days=today.weekday())
        return current - timedelta(days=7), current
    if period == "month":
        current = today.replace(day=1)
        previous = (current - timedelta(days=1)).replace(day=1)
        return previous, current
    if period == "quarter":
        current = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
        previous_end = current - timedelta(days=1)
        return previous_end.replace(month=3 * ((previous_end.month - 1) // 3) + 1, day=1), current
    if period == "year":
        current = today.replace(month=1, day=1)
        return current.replace(year=current.year - 1), current
    raise ValueError(f"unknown period {period!r}")


def position(
    value: float, p25: float | None, p50: float | None, p75: float | None
) -> tuple[str, float | None]:
    """Where ``value`` sits: a band name and, inside [p25, p75], a percentile by linear interpolation."""
    known = [(q, v) for q, v in ((25.0, p25), (50.0, p50), (75.0, p75)) if v is not None]
    if not known:
        return "no_percentiles", None
    if value < known[0][1]:
        return f"below_p{int(known[0][0])}", None
    if value > known[-1][1]:
        return f"above_p{int(known[-1][0])}", None
    for (q_low, v_low), (q_high, v_high) in pairwise(known):
        if v_low <= value <= v_high:
            share = 0.0 if v_high == v_low else (value - v_low) / (v_high - v_low)
            return f"p{int(q_low)}_p{int(q_high)}", round(q_low + share * (q_high - q_low), 1)
    return f"at_p{int(known[0][0])}", known[0][0]
