"""Calendar periods (day, week, month, quarter, year) as half-open date ranges.

Weeks start on Monday. Every period is ``[start, end)`` where ``end`` is the first
day of the next period, so a period is complete on a date ``d`` when ``end <= d``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, Literal, get_args

from backend.services.errors import ValidationFailed

Period = Literal["day", "week", "month", "quarter", "year"]

PERIODS: Final[tuple[str, ...]] = get_args(Period)
PERIOD_ADJECTIVE: Final[dict[str, str]] = {
    "day": "Daily",
    "week": "Weekly",
    "month": "Monthly",
    "quarter": "Quarterly",
    "year": "Yearly",
}


def check_period(period: str) -> None:
    """Raise ``ValidationFailed`` unless ``period`` is one of the supported periods."""
    if period not in PERIODS:
        raise ValidationFailed(
            f"Unknown period {period!r}; expected one of {', '.join(PERIODS)}.",
            details={"period": period, "allowed": list(PERIODS)},
        )


def _first_of_month(year: int, month: int) -> date:
    # Months are counted from 1; let month 13 roll into January of the next year.
    year, month_index = divmod(year * 12 + month - 1, 12)
    return date(year, month_index + 1, 1)


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """``[start, end)`` of the calendar period containing ``day`` (end = first day of the next period)."""
    check_period(period)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if period == "month":
        return date(day.year, day.month, 1), _first_of_month(day.year, day.month + 1)
    if period == "quarter":
        first_month = 3 * ((day.month - 1) // 3) + 1
        return date(day.year, first_month, 1), _first_of_month(day.year, first_month + 3)
    return date(day.year, 1, 1), date(day.year + 1, 1, 1)


def period_index(period: Period, day: date) -> int:
    """A serial number of the period containing ``day``: consecutive periods differ by exactly 1."""
    check_period(period)
    if period == "day":
        return day.toordinal()
    if period == "week":
        # date(1, 1, 1) is a Monday, so Monday ordinals are 1, 8, 15, …
        return (day.toordinal() - 1) // 7
    if period == "month":
        return day.year * 12 + day.month - 1
    if period == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    return day.year


def periods_between(period: Period, start: date, end: date) -> list[tuple[date, date]]:
    """Consecutive periods from the one containing ``start`` through the one containing ``end``, inclusive."""
    if end < start:
        raise ValidationFailed(
            f"The end date {end.isoformat()} is before the start date {start.isoformat()}.",
            details={"start": start.isoformat(), "end": end.isoformat()},
        )
    bounds = [period_bounds(period, start)]
    while bounds[-1][1] <= end:
        bounds.append(period_bounds(period, bounds[-1][1]))
    return bounds


def period_label(period: Period, start: date) -> str:
    """Short label of the period starting at ``start``: 2026-10-05, the week of 2026-10-05, 2026-Q4…"""
    if period == "day":
        return start.isoformat()
    if period == "week":
        return f"the week of {start.isoformat()}"
    if period == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if period == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}"
