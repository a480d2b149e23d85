"""The time-series design of a metric analysis: calendar controls, stationarity, HAC intervals.

A shop's KPIs are time series. Two trending (or wandering) series correlate whether or not
one drives the other, and their errors are autocorrelated, so an i.i.d. regression in
levels finds tight, wrong effects. This module turns the aligned metric table into the
design a careful analyst would fit:

* **calendar controls** — day of week, yearly seasonality as Fourier terms, the country's
  public holidays (the maintained ``holidays`` package) and a linear trend — added to
  the adjustment set so a seasonal lever is not credited with the season;
* **stationarity** — outcome and lever, net of the calendar, are tested with ADF (null:
  unit root) and KPSS (null: stationary); unless both tests agree a series is stationary,
  every column is first-differenced (a linear effect survives differencing unchanged,
  a spurious levels correlation does not);
* **Newey–West (HAC) intervals**, with the usual ``floor(4 (n/100)^(2/9))`` lags.

Pure computation: frames in, frames and a :class:`TimeSeriesDesign` report out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import InterpolationWarning
from statsmodels.tsa.stattools import adfuller, kpss

from backend.services.errors import ValidationFailed
from backend.services.evidence.table import independent_columns
from backend.services.evidence.types import StationarityCheck, TimeSeriesDesign
from backend.utils.calendar import DAYS_PER_PERIOD
from backend.utils.frequency import pandas_code

STATIONARITY_ALPHA = 0.05
# Yearly Fourier pairs: three capture a smooth season in daily data without eating many degrees
# of freedom; weekly data get two, monthly and quarterly one (their histories are short in rows).
FOURIER_PAIRS = {"daily": 3, "weekly": 2, "longer": 1}
# Yearly seasonality is only separable from the trend with (about) a full year of history.
MIN_DAYS_FOR_YEARLY = 365
MIN_ROWS_FOR_TESTS = 20
_DAYS_PER_YEAR = DAYS_PER_PERIOD["year"]
TREND_COLUMN = "calendar_trend"


def newey_west_lags(n: int) -> int:
    """Newey & West (1994) plug-in bandwidth for the Bartlett kernel."""
    return max(1, int(np.floor(4 * (n / 100) ** (2 / 9))))


def _holiday_dates(country: str, years: range) -> set[object]:
    try:
        return set(holidays.country_holidays(country, years=years))
    except NotImplementedError as exc:
        raise ValidationFailed(
            f"No public-holiday calendar for country '{country}'; give an ISO 3166 code such as US, GB, DE.",
            code="unknown_holiday_country",
            context={"holiday_country": country},
        ) from exc


def _holidays_between(start: pd.Timestamp, end: pd.Timestamp, dates: set[object]) -> int:
    return sum(1 for day in pd.date_range(start, end, inclusive="left", freq="D") if day.date() in dates)


def calendar_frame(index: pd.DatetimeIndex, frequency: str, country: str | None) -> pd.DataFrame:
    """Deterministic calendar columns for the buckets in ``index`` (local wall-clock starts)."""
    columns: dict[str, np.ndarray] = {}
    offset = pd.tseries.frequencies.to_offset(pandas_code(frequency))
    days = (index - index[0]) / pd.Timedelta(days=1)
    try:
        sub_weekly = pd.Timedelta(offset) <= pd.Timedelta(days=1)
    except ValueError:
        sub_weekly = False  # weeks anchored on a weekday, months, quarters
    if sub_weekly:
        for weekday in range(1, 7):  # Monday is the reference day
            columns[f"calendar_dow{weekday}"] = (index.day_of_week == weekday).astype("float64")
    span_days = float(days.max()) if len(index) else 0.0
    if span_days >= MIN_DAYS_FOR_YEARLY:
        year_fraction = (index - pd.Timestamp("2000-01-01")) / pd.Timedelta(days=_DAYS_PER_YEAR)
        pairs = FOURIER_PAIRS[
            "daily" if sub_weekly else "weekly" if offset.rule_code.startswith("W") else "longer"
        ]
        for k in range(1, pairs + 1):
            angle = 2 * np.pi * k * np.asarray(year_fraction, dtype="float64")
            columns[f"calendar_year_sin{k}"] = np.sin(angle)
            columns[f"calendar_year_cos{k}"] = np.cos(angle)
    if country is not None and len(index):
        dates = _holiday_dates(country, range(index.min().year, index.max().year + 1))
        if sub_weekly:
            columns["calendar_holiday"] = np.array([d.date() in dates for d in index], dtype="float64")
        else:
            # A longer bucket counts the holidays it holds.
            columns["calendar_holidays"] = np.array(
                [_holidays_between(start, start + offset, dates) for start in index], dtype="float64"
            )
    columns[TREND_COLUMN] = np.asarray(days, dtype="float64") / _DAYS_PER_YEAR
    return pd.DataFrame(columns, index=index)


def _residual(values: np.ndarray, calendar: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(values)), calendar])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual: np.ndarray = values - design @ coef
    return residual


def stationarity(name: str, values: np.ndarray, calendar: np.ndarray) -> StationarityCheck:
    """ADF and KPSS on the series net of the calendar (so a trend or a season is not a unit root)."""
    residual = _residual(values, calendar)
    if np.allclose(residual, residual[0]):
        return StationarityCheck(series=name, adf_p_value=0.0, kpss_p_value=1.0, stationary=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InterpolationWarning)
        adf_p = float(adfuller(residual, regression="c", autolag="AIC", result_object=False)[1])
        kpss_p = float(kpss(residual, regression="c", nlags="auto", result_object=False)[1])
    stationary = adf_p < STATIONARITY_ALPHA and kpss_p >= STATIONARITY_ALPHA
    return StationarityCheck(series=name, adf_p_value=adf_p, kpss_p_value=kpss_p, stationary=stationary)


@dataclass(frozen=True)
class DesignedTable:
    """The table to estimate on (differenced or not) and the columns to adjust for."""

    frame: pd.DataFrame
    calendar_columns: list[str]
    design: TimeSeriesDesign


def apply_time_series_design(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    adjust: Sequence[str],
    frequency: str,
    holiday_country: str | None,
    extra: Sequence[str] = (),
) -> DesignedTable:
    """Add calendar controls, test stationarity and difference when needed.

    ``adjust`` are the caller's adjustment columns (confounders, lever lags); calendar columns
    that add nothing beyond them (constant in the window, or collinear) are left out.
    ``extra`` columns (negative-control outcomes, the lever's lead) ride along, transformed
    the same way.
    """
    if len(frame) < MIN_ROWS_FOR_TESTS:
        raise ValidationFailed(
            "Too few aligned observations for a time-series analysis.",
            code="too_short_history",
            context={"observations": len(frame), "required": MIN_ROWS_FOR_TESTS},
        )
    calendar = calendar_frame(pd.DatetimeIndex(frame.index), frequency, holiday_country)
    joined = pd.concat([frame, calendar], axis=1)
    kept = independent_columns(joined, [treatment, *adjust, *calendar.columns])
    calendar_columns = [c for c in calendar.columns if c in kept]
    deterministic = joined[calendar_columns].to_numpy()
    checks = [stationarity(name, joined[name].to_numpy(), deterministic) for name in (outcome, treatment)]
    difference = not all(check.stationary for check in checks)
    columns = list(dict.fromkeys([outcome, treatment, *adjust, *extra, *calendar_columns]))
    data = joined[columns]
    if difference:
        data = data.diff().iloc[1:]
        # The differenced trend is the intercept; other calendar columns stay as changes.
        calendar_columns = [c for c in calendar_columns if c != TREND_COLUMN]
        data = data.drop(columns=[TREND_COLUMN], errors="ignore")
        kept = independent_columns(data, [treatment, *adjust, *calendar_columns])
        calendar_columns = [c for c in calendar_columns if c in kept]
    # Extra columns may be missing where the model columns are not (the lever's lead in the last bucket).
    data = data.dropna(subset=[c for c in data.columns if c not in extra])
    design = TimeSeriesDesign(
        kind="time_series",
        transformation="first_difference" if difference else "levels_with_trend",
        calendar_controls=calendar_columns,
        holiday_country=holiday_country,
        stationarity=checks,
        hac_lags=newey_west_lags(len(data)),
        note=_note(difference, checks, holiday_country),
    )
    return DesignedTable(frame=data, calendar_columns=calendar_columns, design=design)


def _note(difference: bool, checks: Sequence[StationarityCheck], country: str | None) -> str:
    failing = [c.series for c in checks if not c.stationary]
    holidays_text = f"{country} public holidays" if country else "no public holidays (no country known)"
    how = (
        f"Estimated on first differences: {', '.join(failing)} did not pass both ADF and KPSS "
        "as stationary net of the calendar."
        if difference
        else "Estimated in levels with a trend: outcome and lever are stationary net of the calendar "
        "(ADF rejects a unit root, KPSS does not reject stationarity)."
    )
    return (
        f"Time-series design: calendar controls (day of week, yearly season, {holidays_text}, trend) "
        f"adjusted for. {how} Intervals are Newey–West (HAC), robust to autocorrelation."
    )
