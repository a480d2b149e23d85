"""Rolling-origin backtest: refit each candidate at several past origins and score it.

At each origin the history is cut, the candidate is refitted on what remains and
forecasts the requested horizon; MASE (scaled by that origin's own history) and
sMAPE are averaged over origins. ETS, Theta, ARIMA and CES reuse the specification
found on the full history and only re-estimate their parameters at each origin: their
specification searches are the costliest step (up to 30 ETS fits, a stepwise ARIMA
search). The price is a mild optimism in their backtest scores, which the selection
margin in ``engine`` also guards against.

The origins are refitted one by one rather than through ``StatsForecast.cross_validation``:
for one series that is the same computation (cross-validation refits each window too),
without building the long data frames and fugue plan around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.services.errors import ValidationFailed
from backend.services.forecaster.accuracy import mase, mase_scale, smape
from backend.services.forecaster.calendar import CalendarDesign
from backend.services.forecaster.intervals import IntervalSet, normal_levels
from backend.services.forecaster.models import ModelFailed, fit_model

FloatArray = npt.NDArray[np.float64]

# Models whose specification found on the full history is reused at the origins.
_REUSE_SPEC = frozenset({"ets", "theta", "arima", "ces", "calendar"})


@dataclass(frozen=True)
class CandidateScore:
    """One row of the backtest table."""

    model: str
    spec: str
    mase: float | None
    smape: float | None
    origins: int
    error: str | None = None


@dataclass
class BacktestRun:
    """Raw backtest material: each origin's actuals, scale and every candidate's forecasts.

    ``intervals`` holds each candidate's own intervals at each origin (empty sets for
    models without them): the engine measures their coverage to choose its intervals.
    """

    origins: list[int]
    actuals: list[FloatArray]
    scales: list[float]
    forecasts: dict[str, list[FloatArray]] = field(default_factory=dict)
    intervals: dict[str, list[IntervalSet]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def score(self, name: str, spec: str) -> CandidateScore:
        """Average MASE and sMAPE of ``name`` over the origins (``None`` when it failed)."""
        if name in self.failures or name not in self.forecasts:
            return CandidateScore(name, spec, None, None, 0, self.failures.get(name, "not backtested"))
        paths = self.forecasts[name]
        mases = [mase(a, f, s) for a, f, s in zip(self.actuals, paths, self.scales, strict=True)]
        smapes = [smape(a, f) for a, f in zip(self.actuals, paths, strict=True)]
        return CandidateScore(name, spec, float(np.mean(mases)), float(np.mean(smapes)), len(paths))

    def errors_by_step(self, name: str) -> list[FloatArray]:
        """Backtest errors (actual − forecast) grouped by horizon step, for empirical intervals."""
        stacked = np.vstack([a - f for a, f in zip(self.actuals, self.forecasts[name], strict=True)])
        return [stacked[:, step] for step in range(stacked.shape[1])]


def minimum_training(season_length: int) -> int:
    """Shortest history a backtest origin may leave: two full seasons, and at least 8 points."""
    if season_length > 12:
        # Weekly (52) or longer cycles: seasonal models switch themselves off on short data.
        return 8
    return max(8, 2 * season_length)


# Below this many observations there is nothing to forecast from (nor a frequency to infer).
MINIMUM_OBSERVATIONS = 3


def minimum_history(horizon: int, season_length: int) -> int:
    """Observations for a full backtest: ``horizon`` held out after two seasons of training.

    Shorter histories are still forecast (see ``check_history``), with simpler candidates and
    a shorter backtest, and say so in the forecast's warnings.
    """
    return horizon + minimum_training(season_length)


def maximum_horizon(n: int) -> int:
    """The furthest a history of ``n`` observations is forecast: half its length.

    At that horizon a backtest origin still keeps as many points for training as it holds
    out, so every forecast is scored on data it did not see (24 months: 12 ahead; 8
    quarters: 4 ahead; the M3 and M4 competitions' horizons all fall within it).
    """
    return max(1, n // 2)


def check_history(n: int, horizon: int) -> None:
    """Refuse, before any fitting, a history too short to forecast at all or at ``horizon``."""
    if n < MINIMUM_OBSERVATIONS:
        raise ValidationFailed(
            f"Need at least {MINIMUM_OBSERVATIONS} observations to forecast; got {n}.",
            context={"needed": MINIMUM_OBSERVATIONS, "got": n, "horizon": horizon},
        )
    limit = maximum_horizon(n)
    if horizon > limit:
        raise ValidationFailed(
            f"Forecasting {horizon} steps ahead needs at least {2 * horizon} observations (twice "
            f"the horizon); the history has {n}, enough for {limit} steps ahead.",
            context={"needed": 2 * horizon, "got": n, "horizon": horizon, "maximum_horizon": limit},
        )


def default_origins(horizon: int) -> int:
    """Backtest origins used by default: fewer for long horizons, where each costs more."""
    return 3 if horizon <= 12 else 2


def plan_origins(n: int, horizon: int, season_length: int, max_origins: int) -> list[int]:
    """Training lengths of the origins, latest first, spaced by a third of the horizon.

    Origins keep two seasons of training where the history allows; a shorter history keeps
    what it has (at least one origin, see ``check_history``). Raises ``ValidationFailed``
    (422) when the history cannot be forecast at that horizon at all.
    """
    check_history(n, horizon)
    step = max(1, math.ceil(horizon / 3))
    floor = min(minimum_training(season_length), n - horizon)
    return [n - horizon - k * step for k in range(max_origins) if n - horizon - k * step >= floor]


def run_backtest(
    y: FloatArray,
    horizon: int,
    season_length: int,
    candidates: Sequence[str],
    specs: dict[str, Any],
    max_origins: int,
    levels: Sequence[int] = (),
    design: CalendarDesign | None = None,
) -> BacktestRun:
    """Refit every candidate at each origin and keep its forecasts (and intervals at ``levels``).

    ``design``: the series' calendar (the calendar model reads the rows of each origin's days).
    Failures are recorded in ``failures``.
    """
    origins = plan_origins(len(y), horizon, season_length, max_origins)
    run = BacktestRun(
        origins=origins,
        actuals=[y[cut : cut + horizon] for cut in origins],
        scales=[mase_scale(y[:cut], season_length) for cut in origins],
    )
    for name in candidates:
        spec = specs.get(name) if name in _REUSE_SPEC else None
        paths: list[FloatArray] = []
        bounds: list[IntervalSet] = []
        try:
            for cut in origins:
                # One level from the model, the others from its normal spread: statsforecast
                # builds a scipy distribution per level, a fifth of a forecast's time.
                fit = fit_model(name, y[:cut], horizon, season_length, levels[-1:], spec, design)
                paths.append(fit.mean)
                bounds.append(normal_levels(fit.mean, fit.intervals, levels))
        except ModelFailed as exc:
            run.failures[name] = str(exc)
            continue
        run.forecasts[name] = paths
        run.intervals[name] = bounds
    return run
