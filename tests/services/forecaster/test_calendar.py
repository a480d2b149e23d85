"""Daily forecasts with a calendar: holidays and marked events as regressors, weekly and yearly cycles.

Known truth: two years of simulated daily sales with a weekly pattern, a December peak, a 60% drop
on Christmas Day (a US public holiday) and a 40% lift on Black Friday (a marked event, not a
public holiday). The forecast of the next Black Friday and Christmas shows both effects and the
peak, and the calendar model's backtest beats the best forecast made without a calendar.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.forecaster.calendar import CalendarInput, MarkedEvent, calendar_design
from backend.services.forecaster.engine import ForecastResult, forecast_series
from backend.services.forecaster.series import RegularSeries, build_series
from backend.utils.calendar import public_holidays

START = date(2023, 11, 1)
HISTORY_DAYS = 731  # 2023-11-01 .. 2025-10-31
HORIZON = 61  # November and December 2025
BLACK_FRIDAYS = (date(2023, 11, 24), date(2024, 11, 29), date(2025, 11, 28))
CHRISTMAS = date(2025, 12, 25)
WEEKLY = (0.9, 0.95, 1.0, 1.0, 1.1, 1.3, 0.75)


def _expected(day: date, t: int) -> float:
    """The simulated sales of ``day`` without the holiday effects: trend, week and a December peak."""
    day_of_year = day.timetuple().tm_yday
    from_peak = min(abs(day_of_year - 349), 365 - abs(day_of_year - 349))  # the peak is mid-December
    yearly = (
        1 + 0.4 * np.exp(-((from_peak / 20.0) ** 2)) + 0.08 * np.cos(2 * np.pi * (day_of_year - 200) / 365.25)
    )
    return float(1000 * (1 + 0.0003 * t) * WEEKLY[day.weekday()] * yearly)


def _effect(day: date) -> float:
    if (day.month, day.day) == (12, 25):
        return 0.4
    return 1.4 if day in BLACK_FRIDAYS else 1.0


DAYS = [START + timedelta(days=offset) for offset in range(HISTORY_DAYS + HORIZON)]
EXPECTED = np.array([_expected(day, t) for t, day in enumerate(DAYS)])
FUTURE = DAYS[HISTORY_DAYS:]
CALENDAR = CalendarInput("US", tuple(MarkedEvent("Black Friday", day, day) for day in BLACK_FRIDAYS))


@pytest.fixture(scope="module")
def series() -> RegularSeries:
    noise = np.exp(np.random.default_rng(7).normal(0, 0.05, len(DAYS)))
    values = EXPECTED * np.array([_effect(day) for day in DAYS]) * noise
    points = [
        (pd.Timestamp(day), float(value)) for day, value in zip(DAYS[:HISTORY_DAYS], values, strict=False)
    ]
    return build_series(points, frequency="day")


@pytest.fixture(scope="module")
def with_calendar(series: RegularSeries) -> ForecastResult:
    return forecast_series(series, HORIZON, calendar=CALENDAR)


@pytest.fixture(scope="module")
def without_calendar(series: RegularSeries) -> ForecastResult:
    return forecast_series(series, HORIZON)


def _ratio_to_expected(result: ForecastResult, day: date) -> float:
    step = FUTURE.index(day)
    return float(result.mean[step] / EXPECTED[HISTORY_DAYS + step])


def _december_over_november(values: np.ndarray) -> float:
    december = [i for i, day in enumerate(FUTURE) if day.month == 12 and day != CHRISTMAS]
    november = [i for i, day in enumerate(FUTURE) if day.month == 11 and day not in BLACK_FRIDAYS]
    return float(values[december].mean() / values[november].mean())


def test_the_forecast_of_next_years_holidays_shows_their_effects(with_calendar: ForecastResult) -> None:
    assert with_calendar.model == "calendar"
    assert _ratio_to_expected(with_calendar, CHRISTMAS) == pytest.approx(0.4, abs=0.1)
    assert _ratio_to_expected(with_calendar, BLACK_FRIDAYS[-1]) == pytest.approx(1.4, abs=0.15)


def test_the_forecast_carries_the_december_peak(
    with_calendar: ForecastResult, without_calendar: ForecastResult
) -> None:
    truth = _december_over_november(EXPECTED[HISTORY_DAYS:])
    assert truth > 1.2
    assert _december_over_november(with_calendar.mean) == pytest.approx(truth, rel=0.05)
    # Without the yearly cycle the peak is missed.
    assert _december_over_november(without_calendar.mean) < 1.05


def test_the_calendar_lowers_the_backtest_error(
    with_calendar: ForecastResult, without_calendar: ForecastResult
) -> None:
    def chosen_mase(result: ForecastResult) -> float:
        row = next(row for row in result.backtest if row.model == result.model)
        assert row.mase is not None
        return row.mase

    assert chosen_mase(with_calendar) < 0.9 * chosen_mase(without_calendar)
    assert "calendar" not in {row.model for row in without_calendar.backtest}


def test_the_answer_states_the_holidays_and_events_used_and_their_effects(
    with_calendar: ForecastResult, without_calendar: ForecastResult
) -> None:
    calendar = with_calendar.calendar
    assert calendar is not None and calendar.applied and calendar.yearly_seasonality
    assert calendar.holiday_country == "US" and calendar.effect_scale == "relative"
    used = {(regressor.kind, regressor.name): regressor for regressor in calendar.regressors}
    christmas, black_friday = used[("holiday", "Christmas Day")], used[("event", "Black Friday")]
    assert christmas.history_days == 2 and christmas.horizon_dates == [CHRISTMAS]
    assert black_friday.history_days == 2 and black_friday.horizon_dates == [BLACK_FRIDAYS[-1]]
    assert christmas.effect == pytest.approx(-0.6, abs=0.1)
    assert black_friday.effect == pytest.approx(0.4, abs=0.15)
    # Holidays that do nothing in this shop are estimated near zero.
    assert abs(used[("holiday", "Labor Day")].effect or 0.0) < 0.1
    assert without_calendar.calendar is None


def test_holidays_are_one_regressor_per_name_and_unseen_ones_are_left_out() -> None:
    coming = MarkedEvent("Grand opening", date(2025, 12, 1), date(2025, 12, 3))
    past = MarkedEvent("Closed for works", date(2025, 3, 3), date(2025, 3, 9))
    design = calendar_design(START, HISTORY_DAYS, HORIZON, CalendarInput("US", (coming, past)))
    names = {(regressor.kind, regressor.name): regressor for regressor in design.regressors}
    # An event with no day of history has no estimable effect: not a regressor.
    assert ("event", "Grand opening") not in names
    assert names[("event", "Closed for works")].history_days == 7
    assert names[("holiday", "Christmas Day")].history_days == 2
    assert design.effects.shape == (HISTORY_DAYS + HORIZON, len(design.regressors))
    christmas = next(i for i, r in enumerate(design.regressors) if r.name == "Christmas Day")
    assert [DAYS[row] for row in np.flatnonzero(design.effects[:, christmas])] == [
        date(2023, 12, 25),
        date(2024, 12, 25),
        CHRISTMAS,
    ]


def test_the_holiday_is_its_own_day_not_the_observed_weekday() -> None:
    # Christmas 2022 fell on a Sunday; the day off was Monday 26th. Shops feel the 25th.
    found = public_holidays("US", range(2022, 2023))
    assert found[date(2022, 12, 25)] == "Christmas Day" and date(2022, 12, 26) not in found


def test_an_unknown_holiday_country_is_a_validation_error(series: RegularSeries) -> None:
    with pytest.raises(ValueError):
        public_holidays("XX", range(2025, 2026))
    with pytest.raises(ValidationFailed) as raised:
        forecast_series(series, 7, calendar=CalendarInput("XX"))
    assert raised.value.code == "unknown_holiday_country"


def test_monthly_data_ignores_the_calendar() -> None:
    months = pd.date_range("2022-01-01", periods=36, freq="MS")
    values = 100 + 10 * np.sin(np.arange(36) * np.pi / 6)
    monthly = build_series(list(zip(months, values, strict=True)), frequency="month")
    result = forecast_series(monthly, 6, calendar=CALENDAR)
    assert result.calendar is None and result.model != "calendar"


def test_the_calendar_forecasts_intervals_cover_the_simulated_future() -> None:
    inside: dict[int, list[bool]] = {80: [], 95: []}
    for seed in (1, 2, 3):
        noise = np.exp(np.random.default_rng(seed).normal(0, 0.05, len(DAYS)))
        values = EXPECTED * np.array([_effect(day) for day in DAYS]) * noise
        history = [
            (pd.Timestamp(day), float(v))
            for day, v in zip(DAYS[:HISTORY_DAYS], values[:HISTORY_DAYS], strict=True)
        ]
        result = forecast_series(build_series(history, frequency="day"), HORIZON, calendar=CALENDAR)
        assert result.model == "calendar"
        for point, actual in zip(result.points, values[HISTORY_DAYS:], strict=True):
            for level, hits in inside.items():
                hits.append(point.lower[level] <= actual <= point.upper[level])
    # 183 points, correlated within each run: a band around nominal, not a point.
    assert 0.72 <= np.mean(inside[80]) <= 0.9
    assert 0.88 <= np.mean(inside[95]) <= 1.0
