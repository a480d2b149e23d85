"""Intervals are the model's own or rescaled by the backtest, chosen by measured coverage.

Pure and deterministic: fixed backtest material, no optimiser involved.
"""

from __future__ import annotations

import numpy as np

from backend.services.forecaster.backtest import BacktestRun
from backend.services.forecaster.calibration import choose_intervals
from backend.services.forecaster.intervals import calibration_factor, normal_intervals
from backend.services.forecaster.models import ModelFit

LEVELS = (80, 95)
H = 6


def _run(error_sd: float, model_sd: float, origins: int = 3) -> tuple[ModelFit, BacktestRun]:
    """Flat forecasts of 100 whose model says ``model_sd`` while the errors have ``error_sd``."""
    rng = np.random.default_rng(12)
    mean = np.full(H, 100.0)
    sd = np.full(H, model_sd)
    run = BacktestRun(
        origins=list(range(40, 40 + origins)),
        actuals=[mean + rng.normal(0.0, error_sd, H) for _ in range(origins)],
        scales=[1.0] * origins,
        forecasts={"ets": [mean.copy() for _ in range(origins)]},
        intervals={"ets": [normal_intervals(mean, sd, LEVELS) for _ in range(origins)]},
    )
    return ModelFit("ets", "ETS(A,N,N)", mean, normal_intervals(mean, sd, LEVELS)), run


def test_intervals_far_too_narrow_in_the_backtest_are_widened_and_say_so() -> None:
    fit, run = _run(error_sd=3.0, model_sd=1.0)
    choice = choose_intervals(fit, run, "ets", LEVELS)
    assert choice.method == "calibrated"
    low, high = choice.intervals[95]
    own_low, own_high = fit.intervals[95]
    assert np.all(high - low > 2.0 * (own_high - own_low))
    # The coverage reported is the held-out one (each origin scored by the others' factor).
    assert set(choice.coverage) == set(LEVELS)
    assert choice.coverage[95] > 0.8


def test_intervals_that_covered_the_backtest_are_kept_with_their_coverage() -> None:
    fit, run = _run(error_sd=1.0, model_sd=1.0)
    choice = choose_intervals(fit, run, "ets", LEVELS)
    assert choice.method == "model"
    np.testing.assert_array_equal(choice.intervals[95][1], fit.intervals[95][1])
    assert 0.6 <= choice.coverage[80] <= 1.0 and 0.8 <= choice.coverage[95] <= 1.0


def test_one_origin_cannot_cross_validate_so_the_model_intervals_stay() -> None:
    fit, run = _run(error_sd=3.0, model_sd=1.0, origins=1)
    assert choose_intervals(fit, run, "ets", LEVELS).method == "model"


def test_models_without_intervals_get_empirical_ones_from_their_errors() -> None:
    fit, run = _run(error_sd=2.0, model_sd=1.0)
    bare = ModelFit("croston", "CrostonOptimized", fit.mean)
    run.forecasts["croston"], run.intervals["croston"] = run.forecasts["ets"], [{}, {}, {}]
    choice = choose_intervals(bare, run, "croston", LEVELS)
    assert choice.method == "empirical"
    assert np.all(choice.intervals[95][1] > choice.intervals[80][1])
    assert np.all(choice.intervals[95][0] < choice.intervals[80][0])


def test_the_calibration_factor_tracks_the_error_spread_and_is_bounded() -> None:
    for error_sd, low, high in ((2.0, 1.5, 2.5), (1.0, 0.8, 1.25), (0.1, 0.75, 0.75), (10.0, 3.0, 3.0)):
        _, run = _run(error_sd=error_sd, model_sd=1.0)
        factor = calibration_factor(run.actuals, run.forecasts["ets"], run.intervals["ets"])
        assert factor is not None and low <= factor <= high, (error_sd, factor)
