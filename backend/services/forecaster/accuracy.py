"""Accuracy measures shared by the backtest, the evaluation and the benchmark."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def smape(actual: FloatArray, forecast: FloatArray) -> float:
    """Symmetric MAPE in percent (0–200), the M3/M4 definition; 0/0 counts as a perfect point."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(actual - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    return float(100.0 * np.mean(ratio))


def mase_scale(history: FloatArray, season_length: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (naive when too short).

    A flat history has no scale; a tiny positive one keeps a perfect forecast at 0 and any
    miss very large, instead of dividing by zero.
    """
    lag = season_length if len(history) > season_length else 1
    if len(history) <= lag:
        return _floor_scale(history)
    scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    if scale > 0:
        return scale
    if lag > 1:
        scale = float(np.mean(np.abs(np.diff(history))))
    return scale if scale > 0 else _floor_scale(history)


def _floor_scale(history: FloatArray) -> float:
    return 1e-8 * max(1.0, float(np.mean(np.abs(history))) if len(history) else 1.0)


def mase(actual: FloatArray, forecast: FloatArray, scale: float) -> float:
    """Mean absolute scaled error against a precomputed ``mase_scale``."""
    return float(np.mean(np.abs(actual - forecast)) / scale)
