"""Known-answer series, named models, input validation and the too-short-history error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.forecaster.backtest import MINIMUM_OBSERVATIONS, maximum_horizon, minimum_history
from backend.services.forecaster.engine import SHORT_HISTORY_MODELS, forecast_points, forecast_values

SEASONAL_FAMILY = {"seasonal_naive", "ets", "theta", "arima", "combination"}


def _scores(result) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {row.model: row.mase for row in result.backtest if row.mase is not None}


@pytest.mark.parametrize("season_length", [1, 7, 12])
def test_constant_series_is_forecast_flat_with_zero_width_intervals(season_length: int) -> None:
    # Exact equalities: the answer must not depend on any optimiser's floating-point path.
    result = forecast_values(np.full(40, 250.0), 6, season_length)
    assert result.model == "naive"
    assert result.levels == (80, 95)
    for point in result.points:
        assert point.mean == 250.0
        for level in result.levels:
            assert point.lower[level] == point.upper[level] == 250.0


def test_linear_trend_is_extrapolated_by_a_trend_model() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(60)
    y = 50 + 2.0 * t + rng.normal(0, 0.5, t.size)
    result = forecast_values(y, 8, 1)
    expected = 50 + 2.0 * np.arange(60, 68)
    np.testing.assert_allclose(result.mean, expected, rtol=0.02)
    scores = _scores(result)
    # The level-only models must lose the backtest to every model that can trend.
    assert scores["drift"] < 0.2 * scores["naive"]
    assert scores["drift"] < 0.2 * scores["ses"]
    assert result.model not in {"naive", "ses"}
    assert result.improvement_over_seasonal_naive is not None and result.improvement_over_seasonal_naive > 80


def test_pure_seasonality_is_captured_by_a_seasonal_model() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(72)
    pattern = 100 + 20 * np.sin(2 * np.pi * t / 12) + 8 * np.cos(4 * np.pi * t / 12)
    y = pattern + rng.normal(0, 1.0, t.size)
    result = forecast_values(y, 12, 12)
    future = np.arange(72, 84)
    expected = 100 + 20 * np.sin(2 * np.pi * future / 12) + 8 * np.cos(4 * np.pi * future / 12)
    assert np.max(np.abs(result.mean - expected)) < 5.0
    assert result.model in SEASONAL_FAMILY
    # Every candidate must have been backtested: a silent failure would skew the selection.
    assert all(row.error is None and row.origins >= 2 for row in result.backtest), result.backtest
    scores = _scores(result)
    assert scores["seasonal_naive"] < 0.3 * scores["naive"]
    specs = str([row.spec for row in result.backtest])
    assert "Theta(" in specs and "ETS(" in specs


def test_named_model_is_used_and_backtested_next_to_the_baseline() -> None:
    rng = np.random.default_rng(3)
    y = 100 + np.cumsum(rng.normal(0, 1, 48)) + 10 * np.sin(2 * np.pi * np.arange(48) / 12)
    result = forecast_values(y, 6, 12, model="ets", levels=(50, 90))
    assert result.model == "ets" and result.spec.startswith("ETS(")
    assert {row.model for row in result.backtest} == {"ets", "seasonal_naive"}
    assert result.levels == (50, 90)
    for point in result.points:
        assert point.lower[90] <= point.lower[50] <= point.mean <= point.upper[50] <= point.upper[90]


def test_a_short_history_is_forecast_with_a_stated_caveat_instead_of_refused() -> None:
    # Two years of monthly data: a full backtest would need 12 + 24 months; it is forecast
    # 12 ahead all the same, with simple models and a warning that says why.
    rng = np.random.default_rng(5)
    t = np.arange(24)
    y = 1000 + 10 * t + 200 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 20, t.size)
    assert len(y) < minimum_history(12, 12)
    result = forecast_values(y, 12, 12)
    assert result.horizon == 12 and len(result.points) == 12
    assert result.backtest_origins >= 1
    assert {row.model for row in result.backtest} <= {*SHORT_HISTORY_MODELS, "combination"}
    assert any(w.startswith("Short history (24 observations)") for w in result.warnings)
    # Eight quarters: four ahead.
    assert forecast_values(y[:8], 4, 4).horizon == 4


@pytest.mark.parametrize(
    ("n", "horizon", "needed"),
    [(2, 1, MINIMUM_OBSERVATIONS), (24, 13, 26), (10, 6, 12)],
)
def test_too_short_history_is_refused_before_any_fitting(n: int, horizon: int, needed: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        forecast_values(np.arange(n, dtype=float) + 1, horizon, 12)
    error = caught.value
    assert error.status == 422
    assert error.context["needed"] == needed and error.context["got"] == n
    # Half the history is the limit: one observation fewer ahead is forecast.
    if n >= MINIMUM_OBSERVATIONS:
        assert forecast_values(np.arange(n, dtype=float) + 1, maximum_horizon(n), 12).horizon == n // 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model": "prophet"}, "Unknown model"),
        ({"levels": (0, 95)}, "between 0 and 100"),
        ({"horizon": 0}, "horizon"),
    ],
)
def test_bad_requests_are_validation_errors(kwargs: dict, fragment: str) -> None:
    arguments = {"values": np.arange(30, dtype=float), "horizon": 3, "season_length": 1, **kwargs}
    with pytest.raises(ValidationFailed, match=fragment):
        forecast_values(**arguments)


def test_points_are_dated_from_the_series_calendar() -> None:
    stamps = pd.date_range("2021-01-01", periods=36, freq="MS")
    values = [100.0 + i for i in range(36)]
    result = forecast_points(zip(stamps, values, strict=True), 3, as_of="2023-12-15")
    # December 2023 is incomplete on the 15th and is held out, so the forecast starts there.
    assert [p.ts.isoformat()[:10] for p in result.points] == ["2023-12-01", "2024-01-01", "2024-02-01"]
    assert result.frequency == "month" and result.n_observations == 35
    assert any("incomplete" in w for w in result.warnings)
