"""Calendar regressors of a daily forecast: public holidays, marked events and the yearly cycle.

``calendar_design`` lays the calendar of a daily series over its history and horizon: one 0/1
column per public holiday (by name: Christmas Day is one regressor over the years) and per
marked event (by name: every "Black Friday" the tenant marked), day-of-week dummies, yearly
Fourier terms and a trend. The ``calendar`` candidate model (``models``) regresses the history on
it (in logs for a positive series, so an effect is a percentage), forecasts what the regression
leaves with ARIMA, and adds the calendar of the horizon back; the backtest decides whether it
beats the candidates without a calendar. Pure computation on plain dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from backend.utils.calendar import DAYS_PER_PERIOD, public_holidays

FloatArray = npt.NDArray[np.float64]
RegressorKind = Literal["holiday", "event"]

# Yearly Fourier pairs for daily data: ten, as Prophet's yearly default, resolve a peak a few
# weeks wide (a December peak) that one or two pairs would smear over the season.
YEARLY_FOURIER_PAIRS: Final = 10
# The yearly cycle is fitted only where the training history holds a full year of days.
MIN_DAYS_FOR_YEARLY: Final = 365
_DAYS_PER_YEAR: Final = DAYS_PER_PERIOD["year"]


@dataclass(frozen=True)
class MarkedEvent:
    """An event the tenant marked: ``name`` over the days ``start``..``end`` (inclusive)."""

    name: str
    start: date
    end: date


@dataclass(frozen=True)
class CalendarInput:
    """The calendar a forecast runs with: the holiday country (None for no holidays) and events."""

    country: str | None
    events: tuple[MarkedEvent, ...] = ()


@dataclass(frozen=True)
class Regressor:
    """One holiday or event column: its days with history, and its dates in the horizon."""

    name: str
    kind: RegressorKind
    history_days: int
    future_dates: tuple[date, ...]


@dataclass(frozen=True)
class CalendarDesign:
    """The calendar over ``n`` history days and the horizon after them (rows = days).

    ``effects`` holds the holiday and event columns (one per ``regressors`` entry); the base
    columns (intercept, trend, day of week) and the yearly Fourier terms are built from
    ``day_numbers`` (days since the first history day) and ``weekdays``.
    """

    country: str | None
    n_history: int
    day_numbers: FloatArray
    weekdays: npt.NDArray[np.int64]
    year_fraction: FloatArray
    effects: FloatArray
    regressors: tuple[Regressor, ...] = field(default_factory=tuple)

    def matrix(self, rows: int, *, yearly: bool) -> FloatArray:
        """The design's first ``rows`` rows: intercept, trend, day of week, [yearly,] effects."""
        trend = self.day_numbers[:rows] / _DAYS_PER_YEAR
        weekdays = self.weekdays[:rows]
        columns = [np.ones(rows), trend, *((weekdays == day).astype(np.float64) for day in range(1, 7))]
        if yearly:
            for k in range(1, YEARLY_FOURIER_PAIRS + 1):
                angle = 2 * np.pi * k * self.year_fraction[:rows]
                columns.extend((np.sin(angle), np.cos(angle)))
        return np.column_stack([*columns, self.effects[:rows]])

    def has_effects(self, history_rows: int) -> bool:
        """Whether any holiday or event occurs within the first ``history_rows`` days."""
        return bool(self.effects[:history_rows].any())


def _days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=offset) for offset in range(count)]


def _event_days(event: MarkedEvent) -> list[date]:
    return _days(event.start, (event.end - event.start).days + 1)


def calendar_design(
    history_start: date, n_history: int, horizon: int, calendar: CalendarInput
) -> CalendarDesign:
    """The calendar of ``n_history`` consecutive days from ``history_start`` and ``horizon`` days after.

    Holidays and events with no day in the history are left out: their effect cannot be
    estimated, so the forecast does not pretend to know it. Raises ``ValueError`` for a country
    without a public-holiday calendar.
    """
    days = _days(history_start, n_history + horizon)
    index = {day: row for row, day in enumerate(days)}
    columns: dict[tuple[RegressorKind, str], set[int]] = {}
    if calendar.country is not None:
        found = public_holidays(calendar.country, range(days[0].year, days[-1].year + 1))
        for day, name in found.items():
            if day in index:
                columns.setdefault(("holiday", name), set()).add(index[day])
    for event in calendar.events:
        rows = {index[day] for day in _event_days(event) if day in index}
        if rows:
            columns.setdefault(("event", event.name), set()).update(rows)
    regressors: list[Regressor] = []
    effects: list[FloatArray] = []
    for (kind, name), rows in sorted(columns.items()):
        history_days = sum(1 for row in rows if row < n_history)
        if history_days == 0:
            continue
        column = np.zeros(len(days))
        column[sorted(rows)] = 1.0
        future = tuple(days[row] for row in sorted(rows) if row >= n_history)
        regressors.append(Regressor(name, kind, history_days, future))
        effects.append(column)
    ordinals = np.array([day.toordinal() for day in days], dtype=np.float64)
    return CalendarDesign(
        country=calendar.country,
        n_history=n_history,
        day_numbers=ordinals - ordinals[0],
        weekdays=np.array([day.weekday() for day in days], dtype=np.int64),
        year_fraction=(ordinals - date(2000, 1, 1).toordinal()) / _DAYS_PER_YEAR,
        effects=np.column_stack(effects) if effects else np.zeros((len(days), 0)),
        regressors=tuple(regressors),
    )


def usable_for(design: CalendarDesign, history_rows: int) -> bool:
    """Whether the calendar has something to add at a history of ``history_rows`` days."""
    return history_rows >= MIN_DAYS_FOR_YEARLY or design.has_effects(history_rows)
