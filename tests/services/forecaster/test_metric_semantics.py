"""Non-negative metrics get no negative forecast or bound; intermittent demand gets Croston-type models."""

from __future__ import annotations

import numpy as np

from backend.services.forecaster.engine import forecast_values
from backend.services.forecaster.models import INTERMITTENT_MODELS


def _declining_sales() -> np.ndarray:
    rng = np.random.default_rng(8)
    t = np.arange(48)
    return np.maximum(0.0, 40.0 - 0.8 * t + rng.gamma(2.0, 2.0, t.size))


def test_a_history_that_never_went_below_zero_gets_no_negative_bound() -> None:
    y = _declining_sales()
    result = forecast_values(y, 12, 1)
    for point in result.points:
        assert point.mean >= 0.0
        assert all(bound >= 0.0 for bound in point.lower.values()), point
    assert any("cut at zero" in warning for warning in result.warnings)


def test_a_caller_can_say_the_metric_may_go_negative() -> None:
    # The same history as a profit metric: the lower bounds are the model's own.
    result = forecast_values(_declining_sales(), 12, 1, non_negative=False)
    assert min(point.lower[95] for point in result.points) < 0.0
    assert not any("cut at zero" in warning for warning in result.warnings)


def test_intermittent_demand_is_forecast_by_croston_type_models() -> None:
    rng = np.random.default_rng(21)
    # A spare part: a sale about one period in four, of one to five units.
    y = np.where(rng.random(60) < 0.25, rng.integers(1, 6, 60), 0).astype(float)
    result = forecast_values(y, 6, 12)
    backtested = {row.model for row in result.backtest if row.mase is not None}
    assert set(INTERMITTENT_MODELS) <= backtested
    assert "ets" not in backtested and "theta" not in backtested
    assert result.interval_method in {"model", "calibrated", "empirical"}
    for point in result.points:
        assert 0.0 <= point.lower[95] <= point.mean <= point.upper[95]
        assert point.upper[95] > 0.0


def test_daily_data_with_two_years_carries_the_yearly_peak() -> None:
    # Three years of daily sales with a weekly cycle and a December peak, forecast from
    # 1 November for 60 days: December must come out well above November.
    rng = np.random.default_rng(4)
    days = np.arange(3 * 365)
    day_of_year = days % 365
    y = (
        200
        + 20 * np.sin(2 * np.pi * days / 7)
        + 120 * np.exp(-(((day_of_year - 350) / 12.0) ** 2))
        + rng.normal(0, 5, days.size)
    )
    history = y[: 2 * 365 + 304]  # up to 31 October of the third year
    result = forecast_values(history, 60, 7)
    assert "mstl" in {row.model for row in result.backtest if row.mase is not None}
    november, december = result.mean[:30], result.mean[30:]
    assert december.max() > november.mean() + 60
