"""Score a past forecast against the actuals that have arrived since it was made."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from backend.services.forecaster.accuracy import mase, smape
from backend.services.forecaster.engine import ForecastPoint
from backend.services.forecaster.series import PERIOD_ALIAS, TimestampLike
from backend.services.forecaster.types import ForecastPeriod, Frequency


@dataclass(frozen=True)
class PointEvaluation:
    """One forecast step next to the actual that arrived for it."""

    ts: datetime
    forecast: float
    actual: float
    error: float  # actual − forecast
    inside: dict[int, bool]


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of a stored forecast over the steps whose actuals are known.

    Metrics are ``None`` until at least one actual has arrived; ``mase`` also needs the
    forecast's stored ``mase_scale``. ``coverage`` is the share of actuals inside each interval.
    """

    matched: int
    pending: int
    mae: float | None
    rmse: float | None
    bias: float | None
    smape: float | None
    mase: float | None
    coverage: dict[int, float] = field(default_factory=dict)
    points: list[PointEvaluation] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True once every forecast step has its actual."""
        return self.pending == 0


def _as_point(
    point: ForecastPoint | ForecastPeriod,
) -> tuple[pd.Timestamp, float, dict[int, float], dict[int, float]]:
    if point.ts is None:
        raise ValueError("forecast points need timestamps to be evaluated")
    if isinstance(point, ForecastPoint):
        return pd.Timestamp(point.ts), point.mean, point.lower, point.upper
    # Stored JSON keys the bounds by the level as text.
    lower = {int(k): v for k, v in point.lower.items()}
    upper = {int(k): v for k, v in point.upper.items()}
    return pd.Timestamp(point.ts), point.mean, lower, upper


def _key(ts: pd.Timestamp, frequency: Frequency | None) -> pd.Period | pd.Timestamp:
    stamp = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    return pd.Period(stamp, freq=PERIOD_ALIAS[frequency]) if frequency else stamp


def evaluate_forecast(
    points: Sequence[ForecastPoint | ForecastPeriod],
    actuals: Iterable[tuple[TimestampLike, float | None]],
    *,
    mase_scale: float | None = None,
    frequency: Frequency | None = None,
) -> Evaluation:
    """Match actuals to forecast steps and compute MAE, RMSE, bias, sMAPE, MASE and coverage.

    With ``frequency`` an actual matches the step whose period contains it (e.g. any
    timestamp in March for a monthly forecast); without it timestamps must match exactly.
    """
    observed: dict[pd.Period | pd.Timestamp, float] = {}
    for ts, value in actuals:
        if value is not None and np.isfinite(float(value)):
            observed[_key(pd.Timestamp(ts), frequency)] = float(value)
    evaluated: list[PointEvaluation] = []
    pending = 0
    for raw in points:
        ts, mean, lower, upper = _as_point(raw)
        actual = observed.get(_key(ts, frequency))
        if actual is None:
            pending += 1
            continue
        inside = {level: bool(lower[level] <= actual <= upper[level]) for level in lower if level in upper}
        evaluated.append(PointEvaluation(ts.to_pydatetime(), mean, actual, actual - mean, inside))
    if not evaluated:
        return Evaluation(0, pending, None, None, None, None, None)
    actual_arr = np.array([p.actual for p in evaluated])
    forecast_arr = np.array([p.forecast for p in evaluated])
    errors = actual_arr - forecast_arr
    levels = sorted(set.intersection(*(set(p.inside) for p in evaluated)))
    return Evaluation(
        matched=len(evaluated),
        pending=pending,
        mae=float(np.mean(np.abs(errors))),
        rmse=float(np.sqrt(np.mean(errors**2))),
        bias=float(np.mean(errors)),
        smape=smape(actual_arr, forecast_arr),
        mase=mase(actual_arr, forecast_arr, mase_scale) if mase_scale else None,
        coverage={level: float(np.mean([p.inside[level] for p in evaluated])) for level in levels},
        points=evaluated,
    )
