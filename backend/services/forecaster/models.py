"""Candidate forecasting models behind one function, ``fit_model``, fitted by statsforecast.

Every model takes the history ``y`` (a float array), the horizon and the season
length, and returns a ``ModelFit``: the point forecast, intervals at the requested
levels (skipped when ``levels`` is empty, as the backtest does to save time) and
the specification it chose, which can be passed back as ``spec`` to refit the
same specification on a shorter history without searching again.

statsforecast (Nixtla, a compiled C++ core since 2.x) replaces the statsmodels fits of
the first version: its AutoETS, AutoTheta and AutoARIMA search the same model families
(Hyndman's ``forecast`` package) at a fraction of the cost. Its import takes seconds
(fugue, pyarrow), so the module is imported lazily and warmed at start-up (``warmup``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from backend.services.forecaster.calendar import MIN_DAYS_FOR_YEARLY, CalendarDesign
from backend.services.forecaster.intervals import IntervalSet

FloatArray = npt.NDArray[np.float64]

AUTO_MODELS: Final = ("naive", "seasonal_naive", "drift", "ses", "ets", "theta")
# Intermittent-demand models (Croston family); they have no analytic intervals, so the
# engine builds theirs from the backtest errors.
INTERMITTENT_MODELS: Final = ("croston", "adida", "imapa", "tsb")
# AutoETS refuses seasonal models with longer cycles (R's ``ets`` rule): weekly data (52)
# is fitted without a seasonal state there.
_MAX_ETS_SEASON: Final = 24
# Daily data (a weekly cycle of 7) also gets a yearly cycle through MSTL once two years are in.
DAYS_PER_YEAR: Final = 365
# TSB's smoothing of demand size and of demand probability: the usual textbook values.
_TSB_ALPHA: Final = 0.1


class ModelFailed(Exception):
    """A candidate could not be fitted on this history (too short, numerically unstable…)."""


@dataclass(frozen=True)
class ModelFit:
    """One model's forecast: point path, intervals per level, and the specification used."""

    name: str
    spec: str
    mean: FloatArray
    intervals: IntervalSet = field(default_factory=dict)
    spec_key: Any = None
    # The calendar model's estimated effect of each holiday and event (``calendar.Regressor``
    # order): relative (0.4 = +40%) when fitted in logs, else in the series' units.
    effects: tuple[float, ...] = ()
    effects_relative: bool = False


def warmup() -> None:
    """Import statsforecast and run each automatic model once on a tiny series.

    Called in the background when the API or a worker starts, so no request pays the
    seconds of the first import (fugue, pyarrow) or of first-call initialisation.
    """
    y = 100 + 10 * np.sin(np.arange(36) * np.pi / 6) + np.arange(36.0)
    for name in AUTO_MODELS:
        fit_model(name, y, 3, 12, (80, 95))
    # The calendar model's errors: a non-seasonal AutoARIMA (its first call costs seconds).
    fit_model("arima", y, 3, 1, (80, 95))


def _bounds(raw: dict[str, npt.ArrayLike], levels: Sequence[int]) -> IntervalSet:
    intervals: IntervalSet = {}
    for level in levels:
        low, high = raw.get(f"lo-{level}"), raw.get(f"hi-{level}")
        if low is not None and high is not None:
            intervals[level] = (np.asarray(low, np.float64), np.asarray(high, np.float64))
    return intervals


def _run(model: Any, y: FloatArray, h: int, levels: Sequence[int]) -> dict[str, npt.ArrayLike]:
    """``model.forecast`` with intervals when asked (models without intervals ignore them)."""
    if levels:
        try:
            return dict(model.forecast(y=y, h=h, level=list(levels)))
        except (TypeError, NotImplementedError):
            pass
    return dict(model.forecast(y=y, h=h))


def _simple(name: str, label: str, factory: Callable[[], Any]) -> Callable[..., ModelFit]:
    def fit(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
        raw = _run(factory(), y, h, levels)
        return ModelFit(name, label, np.asarray(raw["mean"], np.float64), _bounds(raw, levels))

    return fit


def _naive(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
    from statsforecast.models import Naive

    return _simple("naive", "Naive", Naive)(y, h, m, levels, spec)


def _seasonal_naive(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
    from statsforecast.models import SeasonalNaive

    if m <= 1 or len(y) < m + 1:
        raise ModelFailed("seasonal naive needs a season length > 1 and more than one season")
    return _simple("seasonal_naive", f"SeasonalNaive(m={m})", lambda: SeasonalNaive(season_length=m))(
        y, h, m, levels, spec
    )


def _drift(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
    from statsforecast.models import RandomWalkWithDrift

    if len(y) < 3:
        raise ModelFailed("drift needs at least 3 observations")
    return _simple("drift", "Drift", RandomWalkWithDrift)(y, h, m, levels, spec)


def _ses(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
    from statsforecast.models import AutoETS

    if len(y) < 3:
        raise ModelFailed("SES needs at least 3 observations")
    # ETS(A,N,N) is simple exponential smoothing with a likelihood, hence with intervals.
    return _simple("ses", "SES", lambda: AutoETS(season_length=1, model="ANN"))(y, h, m, levels, spec)


EtsSpec = tuple[str, bool]  # (three-letter model such as "MAM", damped trend)


def _ets_spec(method: str) -> EtsSpec:
    """``"ETS(M,Ad,M)"`` → ``("MAM", True)``."""
    error, trend, season = method[method.index("(") + 1 : method.index(")")].split(",")
    return f"{error}{trend[0]}{season}", trend.endswith("d")


def _ets(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: EtsSpec | None) -> ModelFit:
    from statsforecast.models import AutoETS

    season = m if 1 < m <= _MAX_ETS_SEASON else 1
    if spec is None:
        model = AutoETS(season_length=season)
    else:
        code, damped = spec
        model = AutoETS(season_length=season, model=code, damped=damped)
    model.fit(y)
    raw = model.predict(h, level=list(levels)) if levels else model.predict(h)
    method = str(model.model_["method"])
    mean = np.asarray(raw["mean"], np.float64)
    return ModelFit("ets", method, mean, _bounds(raw, levels), _ets_spec(method))


def _theta(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: str | None) -> ModelFit:
    from statsforecast.models import AutoTheta

    if len(y) < 4:
        raise ModelFailed("Theta needs at least 4 observations")
    # AutoTheta deseasonalises after the same 90% autocorrelation test as the M3 Theta method
    # and picks the best of the standard/optimised/dynamic variants by in-sample MSE.
    season = m if m > 1 and len(y) >= 2 * m else 1
    model = AutoTheta(season_length=season, model=spec) if spec else AutoTheta(season_length=season)
    model.fit(y)
    raw = model.predict(h, level=list(levels)) if levels else model.predict(h)
    variant = str(model.model_["modeltype"])
    return ModelFit(
        "theta", f"Theta({variant})", np.asarray(raw["mean"], np.float64), _bounds(raw, levels), variant
    )


ArimaSpec = tuple[tuple[int, int, int], tuple[int, int, int], int, bool, bool]


def _arima(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: ArimaSpec | None) -> ModelFit:
    from statsforecast.models import ARIMA, AutoARIMA

    if len(y) < 6:
        raise ModelFailed("ARIMA needs at least 6 observations")
    if spec is None:
        model: Any = AutoARIMA(season_length=m)
    else:
        order, seasonal, period, mean, drift = spec
        model = ARIMA(
            order=order,
            seasonal_order=seasonal,
            season_length=period,
            include_mean=mean,
            include_drift=drift,
        )
    model.fit(y)
    raw = model.predict(h, level=list(levels)) if levels else model.predict(h)
    p, q, big_p, big_q, period, d, big_d = model.model_["arma"]
    coefficients = model.model_["coef"]
    mean_term, drift_term = "intercept" in coefficients, "drift" in coefficients
    found: ArimaSpec = ((p, d, q), (big_p, big_d, big_q), period, mean_term, drift_term)
    seasonal_label = f"({big_p},{big_d},{big_q})[{period}]" if big_p or big_d or big_q else ""
    label = f"ARIMA({p},{d},{q}){seasonal_label}"
    return ModelFit("arima", label, np.asarray(raw["mean"], np.float64), _bounds(raw, levels), found)


def _ces(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: str | None) -> ModelFit:
    from statsforecast.models import AutoCES

    season = m if m > 1 and len(y) >= 2 * m else 1
    model = AutoCES(season_length=season, model=spec) if spec else AutoCES(season_length=season)
    model.fit(y)
    raw = model.predict(h, level=list(levels)) if levels else model.predict(h)
    kind = str(model.model_["seasontype"])
    return ModelFit("ces", f"CES({kind})", np.asarray(raw["mean"], np.float64), _bounds(raw, levels), kind)


def _mstl(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
    """Daily data: weekly and yearly cycles removed by MSTL, the rest forecast by ETS (no season)."""
    from statsforecast.models import MSTL, AutoETS

    if m != 7 or len(y) < 2 * DAYS_PER_YEAR:
        raise ModelFailed("MSTL needs daily data (a weekly cycle) and two years of it")
    model = MSTL(season_length=[m, DAYS_PER_YEAR], trend_forecaster=AutoETS(model="ZZN"))
    raw = _run(model, y, h, levels)
    label = f"MSTL({m}, {DAYS_PER_YEAR}) + ETS trend"
    return ModelFit("mstl", label, np.asarray(raw["mean"], np.float64), _bounds(raw, levels))


# The calendar model's regression needs a few weeks to tell the weekdays apart.
_CALENDAR_MIN_DAYS: Final = 28
CalendarSpec = tuple[ArimaSpec, bool]  # (ARIMA of what the calendar leaves, fitted in logs)


def _calendar(
    y: FloatArray,
    h: int,
    m: int,
    levels: Sequence[int],
    spec: CalendarSpec | None,
    design: CalendarDesign | None,
) -> ModelFit:
    """Daily data: regression on the calendar (trend, weekdays, yearly cycle, holidays, events)
    with ARIMA errors, fitted in two stages: least squares on the calendar, then AutoARIMA on
    what it leaves. In logs when every value is positive, so each effect is a percentage."""
    n = len(y)
    if design is None or m != 7:
        raise ModelFailed("the calendar model needs daily data and the tenant's calendar")
    if n < _CALENDAR_MIN_DAYS or n + h > len(design.day_numbers):
        raise ModelFailed(f"the calendar model needs at least {_CALENDAR_MIN_DAYS} days")
    logs = bool(np.all(y > 0)) if spec is None else spec[1]
    if logs and not np.all(y > 0):
        logs = False
    design_rows = design.matrix(n + h, yearly=n >= MIN_DAYS_FOR_YEARLY)
    history, future = design_rows[:n], design_rows[n:]
    # Holiday and event columns with no day in this history carry no information: left out.
    keep = np.any(history != 0, axis=0)
    target = np.log(y) if logs else y
    beta, *_ = np.linalg.lstsq(history[:, keep], target, rcond=None)
    residual = target - history[:, keep] @ beta
    errors = _arima(residual, h, 1, levels, spec[0] if spec else None)
    calendar_path = future[:, keep] @ beta
    transform = np.exp if logs else (lambda values: values)
    intervals = {
        level: (transform(calendar_path + low), transform(calendar_path + high))
        for level, (low, high) in errors.intervals.items()
    }
    coefficients = np.zeros(design_rows.shape[1])
    coefficients[keep] = beta
    effect_columns = coefficients[design_rows.shape[1] - design.effects.shape[1] :]
    effects = tuple(float(np.expm1(c)) if logs else float(c) for c in effect_columns)
    yearly = "yearly, " if n >= MIN_DAYS_FOR_YEARLY else ""
    label = f"Calendar(weekly, {yearly}{len(design.regressors)} holidays/events) + {errors.spec} errors"
    return ModelFit(
        "calendar",
        label,
        np.asarray(transform(calendar_path + errors.mean), np.float64),
        intervals,
        (errors.spec_key, logs),
        effects,
        logs,
    )


def _intermittent(name: str) -> Callable[..., ModelFit]:
    def fit(y: FloatArray, h: int, m: int, levels: Sequence[int], spec: Any) -> ModelFit:
        from statsforecast.models import ADIDA, IMAPA, TSB, CrostonOptimized

        if np.count_nonzero(y) < 2:
            raise ModelFailed(f"{name} needs at least two non-zero demands")
        factories: dict[str, tuple[str, Callable[[], Any]]] = {
            "croston": ("CrostonOptimized", CrostonOptimized),
            "adida": ("ADIDA", ADIDA),
            "imapa": ("IMAPA", IMAPA),
            "tsb": ("TSB", lambda: TSB(alpha_d=_TSB_ALPHA, alpha_p=_TSB_ALPHA)),
        }
        label, factory = factories[name]
        raw = dict(factory().forecast(y=y, h=h))
        return ModelFit(name, label, np.asarray(raw["mean"], np.float64))

    return fit


_FITTERS: Final[dict[str, Callable[..., ModelFit]]] = {
    "naive": _naive,
    "seasonal_naive": _seasonal_naive,
    "drift": _drift,
    "ses": _ses,
    "ets": _ets,
    "theta": _theta,
    "arima": _arima,
    "ces": _ces,
    "mstl": _mstl,
    **{name: _intermittent(name) for name in INTERMITTENT_MODELS},
}


def fit_model(
    name: str,
    y: FloatArray,
    horizon: int,
    season_length: int,
    levels: Sequence[int] = (),
    spec: Any = None,
    design: CalendarDesign | None = None,
) -> ModelFit:
    """Fit candidate ``name`` on ``y`` and forecast ``horizon`` steps.

    ``spec`` (from a previous ``ModelFit.spec_key``) skips the specification search of
    ETS, Theta, ARIMA, CES and the calendar model's errors. ``design``: the calendar of the
    series from its first day (``calendar.calendar_design``), for the calendar model.
    Raises ``ModelFailed`` when the model cannot be fitted.
    """
    if name == "calendar":
        return _checked(name, horizon, lambda: _calendar(y, horizon, season_length, levels, spec, design))
    if name not in _FITTERS:
        raise ValueError(f"unknown model {name!r}")
    values = np.asarray(y, dtype=np.float64)
    return _checked(name, horizon, lambda: _FITTERS[name](values, horizon, season_length, levels, spec))


def _checked(name: str, horizon: int, fit_it: Callable[[], ModelFit]) -> ModelFit:
    with warnings.catch_warnings():
        # Expected during an automatic search (a poor candidate fails and loses); no news
        # for the user. Scoped to the fitting code, not process-wide.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            fit = fit_it()
        except ModelFailed:
            raise
        except Exception as exc:  # statsforecast raises assorted errors on degenerate data
            raise ModelFailed(f"{name}: {type(exc).__name__}: {exc}") from exc
    if len(fit.mean) != horizon or not np.all(np.isfinite(fit.mean)):
        raise ModelFailed(f"{name}: non-finite forecast")
    return fit
