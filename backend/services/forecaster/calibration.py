"""Which prediction intervals a forecast gives: the model's own, the model's rescaled by its
backtest errors, or quantiles of those errors alone — whichever covered the held-out backtest
points closest to the nominal levels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from backend.services.forecaster.backtest import BacktestRun
from backend.services.forecaster.intervals import (
    IntervalSet,
    calibration_factor,
    coverage,
    empirical_intervals,
    ensure_ordered,
    scale_intervals,
)
from backend.services.forecaster.models import ModelFit

# Calibrated intervals replace the model's own only if their cross-validated coverage is
# closer to the levels by this much (mean absolute gap over the levels): with few origins
# the measured coverage is noisy, and a tie keeps the model's intervals.
CALIBRATION_MARGIN: Final = 0.05


@dataclass(frozen=True)
class IntervalChoice:
    """The intervals given, how they were made, and their coverage measured in the backtest.

    ``method`` is ``model`` (the model's own), ``calibrated`` (the model's rescaled by its
    backtest errors, ``intervals.calibration_factor``) or ``empirical`` (quantiles of the
    backtest errors alone, for models with no intervals). ``coverage`` is per level, on
    held-out backtest points; for ``calibrated`` and ``empirical`` each origin is scored
    with intervals built from the other origins only (leave one origin out).
    """

    intervals: IntervalSet
    method: str
    coverage: dict[int, float]


def _gap(shares: dict[int, float], levels: Sequence[int]) -> float:
    if any(level not in shares for level in levels):
        return float("inf")
    return float(np.mean([abs(shares[level] - level / 100) for level in levels]))


def _leave_one_origin_out(
    run: BacktestRun, name: str, levels: Sequence[int], build: Callable[[list[int], int], IntervalSet]
) -> dict[int, float]:
    """Coverage when origin ``i``'s intervals come from ``build(other origins, i)``."""
    count = len(run.origins)
    if count < 2:
        return {}
    built = [build([j for j in range(count) if j != i], i) for i in range(count)]
    return coverage(run.actuals, built, levels)


def choose_intervals(fit: ModelFit, run: BacktestRun, name: str, levels: Sequence[int]) -> IntervalChoice:
    """Model-based or calibrated intervals, whichever covered the backtest closer to its levels.

    Ties keep the model's own. Too few origins to cross-validate keep them too.
    """
    own = {
        level: bounds
        for level, bounds in fit.intervals.items()
        if np.all(np.isfinite(bounds[0])) and np.all(np.isfinite(bounds[1]))
    }
    paths, origin_bounds = run.forecasts.get(name), run.intervals.get(name)
    if paths is None or origin_bounds is None:
        return IntervalChoice(ensure_ordered(fit.mean, own), "model", {})
    if all(level in own for level in levels):
        measured = coverage(run.actuals, origin_bounds, levels)

        def calibrated(train: list[int], target: int) -> IntervalSet:
            factor = calibration_factor(
                [run.actuals[j] for j in train], [paths[j] for j in train], [origin_bounds[j] for j in train]
            )
            return scale_intervals(paths[target], origin_bounds[target], factor or 1.0)

        cross_validated = _leave_one_origin_out(run, name, levels, calibrated)
        factor = calibration_factor(run.actuals, paths, origin_bounds)
        if factor is not None and _gap(cross_validated, levels) < _gap(measured, levels) - CALIBRATION_MARGIN:
            scaled = scale_intervals(fit.mean, own, factor)
            return IntervalChoice(ensure_ordered(fit.mean, scaled), "calibrated", cross_validated)
        return IntervalChoice(ensure_ordered(fit.mean, own), "model", measured)

    def empirical(train: list[int], target: int) -> IntervalSet:
        errors = np.vstack([run.actuals[j] - paths[j] for j in train])
        return empirical_intervals(paths[target], list(errors.T), levels)

    intervals = empirical_intervals(fit.mean, run.errors_by_step(name), levels)
    measured = _leave_one_origin_out(run, name, levels, empirical)
    return IntervalChoice(ensure_ordered(fit.mean, intervals), "empirical", measured)
