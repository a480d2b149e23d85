"""The calendar every feature shares: one period vocabulary, period bounds and local dates.

Periods are calendar periods in the tenant's local time: weeks start on Monday (ISO),
quarters on January, April, July and October. Every period is the half-open date range
``[start, end)`` where ``end`` is the first day of the next period, so a period is
complete on a date ``d`` when ``end <= d``.

The holiday country of a tenant is the country of its time zone unless a request names one
(``holiday_country``); ``public_holidays`` gives that country's holidays by date, from the
maintained ``holidays`` package.

Pure functions of plain dates; they raise ``ValueError`` for an unknown period, an inverted
range or a country without a holiday calendar (callers in the service layer turn that into
their own 422).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month", "quarter", "year"]

PERIODS: Final[tuple[Period, ...]] = get_args(Period)
PERIOD_ADJECTIVE: Final[dict[Period, str]] = {
    "day": "Daily",
    "week": "Weekly",
    "month": "Monthly",
    "quarter": "Quarterly",
    "year": "Yearly",
}
# Mean length of each period in days, on the Gregorian calendar (400 years hold 146,097 days),
# so converting a rate or a span between periods neither drifts over the years nor favours
# leap years. For a window that must *contain* n whole periods, do not multiply these: use
# ``shift`` (calendar arithmetic), which is exact.
DAYS_PER_PERIOD: Final[dict[Period, float]] = {
    "day": 1.0,
    "week": 7.0,
    "month": 146_097 / 400 / 12,  # 30.436875
    "quarter": 146_097 / 400 / 4,  # 91.310625
    "year": 146_097 / 400,  # 365.2425
}


def check_period(period: str) -> Period:
    """``period`` as a ``Period``; ``ValueError`` unless it is one of ``PERIODS``."""
    for known in PERIODS:
        if period == known:
            return known
    raise ValueError(f"Unknown period {period!r}; expected one of {', '.join(PERIODS)}.")


def _first_of_month(year: int, month: int) -> date:
    # Months are counted from 1; let month 13 (or 0) roll into the next (or previous) year.
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


def shift(period: Period, day: date, periods: int) -> date:
    """Start of the period ``periods`` away from the one containing ``day`` (negative: earlier)."""
    start = period_bounds(period, day)[0]
    if period == "day":
        return start + timedelta(days=periods)
    if period == "week":
        return start + timedelta(days=7 * periods)
    months = {"month": 1, "quarter": 3, "year": 12}[period] * periods
    return _first_of_month(start.year, start.month + months)


def periods_between(period: Period, start: date, end: date) -> list[tuple[date, date]]:
    """Consecutive periods from the one containing ``start`` through the one containing ``end``, inclusive."""
    if end < start:
        raise ValueError(f"The end date {end.isoformat()} is before the start date {start.isoformat()}.")
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


def local_today(zone: ZoneInfo, *, now: datetime | None = None) -> date:
    """The date it is in ``zone`` at ``now`` (default: the current instant)."""
    return (now or datetime.now(UTC)).astimezone(zone).date()


NO_HOLIDAYS: Final = "none"
"""The holiday country that asks for no public holidays at all."""


@cache
def _zone_countries() -> dict[str, str]:
    """IANA zone -> ISO 3166 country code, from the tz database's ``zone.tab``."""
    try:
        text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    pairs = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {fields[2]: fields[0] for fields in pairs if len(fields) >= 3}


def country_of_zone(zone: str) -> str | None:
    """The country whose time zone this is (``Europe/Berlin`` -> ``DE``); None for UTC and the like."""
    return _zone_countries().get(zone)


def holiday_country(requested: str | None, zone: str) -> str:
    """The country whose public holidays apply: the one requested, by default the country of the
    tenant's time zone ``zone``; ``NO_HOLIDAYS`` (``none``) when asked for none or none is known.

    Resolved once per request, so a queued job uses the calendar the request described.
    """
    if requested is None:
        return country_of_zone(zone) or NO_HOLIDAYS
    return NO_HOLIDAYS if requested.lower() == NO_HOLIDAYS else requested.upper()


def public_holidays(country: str, years: range) -> dict[date, str]:
    """``country``'s public holidays in ``years``, by date (the day itself, not an observed weekday).

    ``ValueError`` when the ``holidays`` package has no calendar for ``country``.
    """
    import holidays  # imported on use: its country modules load lazily and cost start-up time

    try:
        found = holidays.country_holidays(country, years=years, observed=False)
    except NotImplementedError as exc:
        raise ValueError(f"No public-holiday calendar for country {country!r}.") from exc
    return {day: str(name) for day, name in found.items()}
