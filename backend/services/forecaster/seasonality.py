"""Seasonality test and classical decomposition (the M4 competition's Naive2 recipe)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# One-sided 90% normal quantile used by the M4 seasonality test.
_T_CRIT_90 = 1.645


def _acf(values: FloatArray, nlags: int) -> FloatArray:
    centred = values - values.mean()
    denominator = float(np.dot(centred, centred))
    if denominator == 0:
        return np.zeros(nlags + 1)
    return np.array(
        [1.0] + [float(np.dot(centred[k:], centred[:-k])) / denominator for k in range(1, nlags + 1)]
    )


def is_seasonal(values: FloatArray, season_length: int) -> bool:
    """90% test that the autocorrelation at the seasonal lag is non-zero (needs 3 full cycles)."""
    if season_length <= 1 or len(values) < 3 * season_length:
        return False
    acf = _acf(values, season_length)
    limit = _T_CRIT_90 * np.sqrt((1 + 2 * np.sum(acf[1:season_length] ** 2)) / len(values))
    return bool(abs(acf[season_length]) > limit)


def seasonal_indices(values: FloatArray, season_length: int, multiplicative: bool) -> FloatArray:
    """Classical decomposition: seasonal index of each position ``t % season_length``.

    Multiplicative indices average to 1, additive ones to 0.
    """
    m = season_length
    # Centred moving average: a 2×m MA for even m keeps the trend aligned with t.
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(values, weights, mode="valid")
    offset = (len(weights) - 1) // 2
    detrended = (
        values[offset : offset + len(trend)] / trend
        if multiplicative
        else (values[offset : offset + len(trend)] - trend)
    )
    positions = (np.arange(len(trend)) + offset) % m
    indices = np.array([detrended[positions == k].mean() for k in range(m)])
    centred = indices / indices.mean() if multiplicative else indices - indices.mean()
    return np.asarray(centred, dtype=np.float64)


def deseasonalize(values: FloatArray, season_length: int) -> tuple[FloatArray, FloatArray, bool]:
    """Seasonally adjust when the test says so: returns (adjusted, per-position indices, multiplicative).

    Multiplicative decomposition is used when every value is positive, additive otherwise;
    when the series is not seasonal the indices are neutral.
    """
    multiplicative = bool(np.all(values > 0))
    neutral = np.ones(max(season_length, 1)) if multiplicative else np.zeros(max(season_length, 1))
    if not is_seasonal(values, season_length):
        return values, neutral, multiplicative
    indices = seasonal_indices(values, season_length, multiplicative)
    pattern = indices[np.arange(len(values)) % season_length]
    adjusted = values / pattern if multiplicative else values - pattern
    return adjusted, indices, multiplicative


def reseasonalize(
    forecast: FloatArray, indices: FloatArray, multiplicative: bool, start: int, season_length: int
) -> FloatArray:
    """Put the seasonal pattern back on a forecast whose first step has position ``start``."""
    pattern = indices[(start + np.arange(len(forecast))) % max(season_length, 1)]
    return forecast * pattern if multiplicative else forecast + pattern
