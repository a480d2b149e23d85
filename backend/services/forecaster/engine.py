"""The forecaster's entry point: choose a model by backtest and forecast with intervals.

``forecast_values`` works on a plain array (the benchmark uses it);
``forecast_series`` adds timestamps from a ``RegularSeries``; ``forecast_points``
builds that series from raw (ts, value) points first. All are pure and CPU-bound:
call them in a worker process (see ``pool``), never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from backend.services.errors import ValidationFailed
from backend.services.forecaster.accuracy import mase_scale
from backend.services.forecaster.backtest import (
    BacktestRun,
    CandidateScore,
    check_history,
    default_origins,
    minimum_history,
    run_backtest,
)
from backend.services.forecaster.calendar import (
    MIN_DAYS_FOR_YEARLY,
    CalendarDesign,
    CalendarInput,
    calendar_design,
    usable_for,
)
from backend.services.forecaster.calibration import choose_intervals
from backend.services.forecaster.intervals import (
    DEFAULT_LEVELS,
    IntervalSet,
    combine_intervals,
    validate_levels,
)
from backend.services.forecaster.models import (
    AUTO_MODELS,
    DAYS_PER_YEAR,
    INTERMITTENT_MODELS,
    ModelFailed,
    ModelFit,
    fit_model,
)
from backend.services.forecaster.series import (
    Aggregate,
    GapRule,
    RegularSeries,
    TimestampLike,
    build_series,
)
from backend.services.forecaster.types import (
    AVAILABLE_MODELS,
    COMBINATION,
    CalendarRegressorUsed,
    ForecastCalendar,
    Frequency,
)

FloatArray = npt.NDArray[np.float64]

# The combination is the mean of three forecasts: ETS and Theta always (when they fit),
# and the third seat goes to the best of the other candidates by backtest MASE. The mean,
# not the median: it is the centre of the linear pool the combined intervals come from
# (``combine_intervals``), and equal-weight means are the combinations the forecasting
# competitions found hard to beat. (On a 150-series M3 sample the two differed by less
# than the sample's noise: MASE 1.466 vs 1.472.)
COMBINATION_SIZE: Final = 3
COMBINATION_METHOD: Final = "mean"
_COMBINATION_PREFERRED: Final = ("ets", "theta")
# A single model replaces the combination only if its backtest MASE is lower by this
# fraction: with two or three origins the backtest is noisy, and its argmin chases noise
# (on a 120-series M3 sample a 20% margin scored sMAPE 12.8 overall, 40% scored 12.5).
SELECTION_MARGIN: Final = 0.4
# Candidates for a history shorter than a full backtest needs (``minimum_history``).
SHORT_HISTORY_MODELS: Final = ("naive", "seasonal_naive", "drift", "ses", "theta")
INTERMITTENT_INTERVAL: Final = 1.32


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast step: period start (``None`` for bare arrays), mean and bounds per level."""

    step: int
    ts: datetime | None
    mean: float
    lower: dict[int, float]
    upper: dict[int, float]


@dataclass(frozen=True)
class ForecastResult:
    """Everything a caller shows or stores about one forecast."""

    model: str
    spec: str
    horizon: int
    season_length: int
    levels: tuple[int, ...]
    points: list[ForecastPoint]
    backtest: list[CandidateScore]
    backtest_origins: int
    improvement_over_seasonal_naive: float | None
    mase_scale: float
    n_observations: int
    frequency: Frequency | None = None
    history_start: datetime | None = None
    history_end: datetime | None = None
    interval_method: str = "model"
    backtest_coverage: dict[int, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    calendar: ForecastCalendar | None = None

    @property
    def mean(self) -> FloatArray:
        """The point forecast as an array."""
        return np.array([p.mean for p in self.points])


def _baseline(season_length: int) -> str:
    return "seasonal_naive" if season_length > 1 else "naive"


def _candidates(
    model: str, season_length: int, y: FloatArray, horizon: int, design: CalendarDesign | None = None
) -> list[str]:
    if model == "auto" and _is_constant(y):
        # A flat history has one honest forecast: the same value, with no spread. Fitting
        # ETS, Theta or ARIMA to it only measures the floating-point noise of their
        # optimisers (which differs between processors), so only the naive model runs.
        return ["naive"]
    n = len(y)
    if model == "auto" and is_intermittent(y):
        return ["naive", "ses", *INTERMITTENT_MODELS]
    if model == "auto" and n < minimum_history(horizon, season_length):
        # Too short for two seasons of training before the held-out horizon: ETS and ARIMA
        # would be chosen by a backtest they could barely be fitted at. Simple candidates.
        names = [name for name in SHORT_HISTORY_MODELS if name != "seasonal_naive" or n > season_length]
        return [name for name in names if name != "seasonal_naive" or season_length > 1]
    if model == "auto":
        names = [name for name in AUTO_MODELS if name != "seasonal_naive" or season_length > 1]
        if season_length == 7 and n >= 2 * DAYS_PER_YEAR + horizon:
            # Daily data with two years before the held-out horizon: the yearly cycle too.
            names.append("mstl")
        if season_length == 7 and design is not None and usable_for(design, n - horizon):
            # Daily data with a year at the first backtest origin, or holidays and events in it.
            names.append("calendar")
        return names if n > season_length else [name for name in names if name != "seasonal_naive"]
    baseline = _baseline(season_length)
    members = [model] if model != COMBINATION else list(AUTO_MODELS)
    return list(dict.fromkeys([*members, baseline]))


def is_intermittent(y: FloatArray) -> bool:
    """Intermittent demand: never negative, with an average interval between demands above 1.32.

    The cut-off is Syntetos and Boylan's (2005) classification, where Croston-type methods
    start to beat exponential smoothing; it is a published rule, not one fitted here.
    """
    demands = np.flatnonzero(y)
    if np.any(y < 0) or len(demands) < 2:
        return False
    return bool(len(y) / len(demands) > INTERMITTENT_INTERVAL)


def _is_constant(y: FloatArray) -> bool:
    return bool(len(y) > 0 and np.all(y == y[0]))


def _combination_members(scores: dict[str, CandidateScore], size: int) -> list[str]:
    usable = [s for s in scores.values() if s.mase is not None and s.model != COMBINATION]
    ranked = sorted(usable, key=lambda s: (s.model not in _COMBINATION_PREFERRED, s.mase))
    return [s.model for s in ranked[:size]]


def _reduce(paths: Sequence[FloatArray]) -> FloatArray:
    """The combination's path: the equal-weight mean (``COMBINATION_METHOD``) of the members'."""
    return np.asarray(np.vstack(paths).mean(axis=0), dtype=np.float64)


def forecast_values(
    values: Sequence[float] | FloatArray,
    horizon: int,
    season_length: int,
    *,
    model: str = "auto",
    levels: Sequence[float] = DEFAULT_LEVELS,
    max_origins: int | None = None,
    non_negative: bool | None = None,
    calendar: CalendarDesign | None = None,
) -> ForecastResult:
    """Forecast ``horizon`` steps of an evenly spaced series.

    ``calendar``: the calendar of a daily series (``calendar.calendar_design``), which adds the
    ``calendar`` candidate (holidays, events, weekly and yearly cycles as regressors).

    ``non_negative``: cut the forecast and its bounds at zero. ``None`` (the default) decides
    from the history: a series that never went below zero is taken as a non-negative
    quantity (sales, counts, stock). A caller that knows better (the metric definition's
    ``non_negative``) passes ``True`` or ``False``.

    ``model="auto"`` backtests every candidate and the combination, and keeps the
    combination unless a single model's mean backtest MASE is lower by ``SELECTION_MARGIN``;
    a named model is fitted as asked and backtested next to the
    seasonal-naive baseline. Raises ``ValidationFailed`` for bad input or too little history.
    """
    y = np.asarray(values, dtype=np.float64)
    if model not in AVAILABLE_MODELS:
        raise ValidationFailed(f"Unknown model {model!r}.", context={"allowed": list(AVAILABLE_MODELS)})
    if horizon < 1:
        raise ValidationFailed("The horizon must be at least 1.", context={"horizon": horizon})
    if not np.all(np.isfinite(y)):
        raise ValidationFailed("The series contains missing or infinite values; build it with build_series.")
    try:
        chosen_levels = validate_levels(levels)
    except ValueError as exc:
        raise ValidationFailed(str(exc), context={"levels": list(levels)}) from exc
    season_length = max(1, int(season_length))
    check_history(len(y), horizon)
    origins_cap = max_origins or default_origins(horizon)

    candidates = _candidates(model, season_length, y, horizon, calendar)
    # Full-history fits first: they give ARIMA's order, reused at the backtest origins.
    finals: dict[str, ModelFit] = {}
    failures: dict[str, str] = {}
    for name in candidates:
        try:
            finals[name] = fit_model(name, y, horizon, season_length, chosen_levels, design=calendar)
        except ModelFailed as exc:
            failures[name] = str(exc)
    run = run_backtest(
        y,
        horizon,
        season_length,
        [c for c in candidates if c in finals],
        {name: fit.spec_key for name, fit in finals.items()},
        origins_cap,
        chosen_levels,
        calendar,
    )
    run.failures.update(failures)
    scores = {name: run.score(name, finals[name].spec if name in finals else name) for name in candidates}

    members: list[str] = []
    if model in ("auto", COMBINATION) and len(candidates) > 1:
        members = _combination_members(scores, COMBINATION_SIZE)
        if len(members) >= 2:
            run.forecasts[COMBINATION] = [
                _reduce([run.forecasts[m][i] for m in members]) for i in range(len(run.origins))
            ]
            run.intervals[COMBINATION] = [
                combine_intervals([run.intervals[m][i] for m in members], chosen_levels)
                for i in range(len(run.origins))
            ]
            scores[COMBINATION] = run.score(COMBINATION, f"{COMBINATION_METHOD}({', '.join(members)})")
            finals[COMBINATION] = _combine_fits(
                [finals[m] for m in members], scores[COMBINATION].spec, chosen_levels
            )

    chosen = _choose(model, scores, finals)
    fit = finals[chosen]
    choice = choose_intervals(fit, run, chosen, chosen_levels)
    intervals = choice.intervals
    baseline = scores.get(_baseline(season_length))
    improvement = None
    chosen_mase = scores[chosen].mase
    if baseline and baseline.mase and chosen_mase is not None:
        improvement = float(100.0 * (1.0 - chosen_mase / baseline.mase))

    warnings = _warnings(y, season_length, fit.mean, run, scores[chosen], improvement, chosen)
    mean = fit.mean
    if bool(np.all(y >= 0)) if non_negative is None else non_negative:
        mean, intervals, cut = _at_least_zero(mean, intervals)
        if cut:
            warnings.append(
                "The forecast or its bounds went below zero and were cut at zero: the metric is "
                "taken as non-negative (its history never went below zero)."
            )
    points = [
        ForecastPoint(
            step=i + 1,
            ts=None,
            mean=float(mean[i]),
            lower={level: float(intervals[level][0][i]) for level in intervals},
            upper={level: float(intervals[level][1][i]) for level in intervals},
        )
        for i in range(horizon)
    ]
    table = sorted(scores.values(), key=lambda s: (s.mase is None, s.mase if s.mase is not None else 0.0))
    return ForecastResult(
        model=chosen,
        spec=fit.spec,
        horizon=horizon,
        season_length=season_length,
        levels=chosen_levels,
        points=points,
        backtest=table,
        backtest_origins=len(run.origins),
        improvement_over_seasonal_naive=improvement,
        mase_scale=mase_scale(y, season_length),
        n_observations=len(y),
        interval_method=choice.method,
        backtest_coverage=choice.coverage,
        warnings=warnings,
        calendar=_calendar_report(calendar, finals.get("calendar"), chosen, members, len(y)),
    )


def _calendar_report(
    design: CalendarDesign | None, fit: ModelFit | None, chosen: str, members: Sequence[str], n: int
) -> ForecastCalendar | None:
    """Which holidays and events the forecast had, their estimated effects, and whether it used them."""
    if design is None:
        return None
    applied = fit is not None and (chosen == "calendar" or (chosen == COMBINATION and "calendar" in members))
    effects = fit.effects if fit is not None else ()
    regressors = [
        CalendarRegressorUsed(
            name=regressor.name,
            kind=regressor.kind,
            history_days=regressor.history_days,
            horizon_dates=list(regressor.future_dates),
            effect=effects[index] if index < len(effects) else None,
        )
        for index, regressor in enumerate(design.regressors)
    ]
    return ForecastCalendar(
        holiday_country=design.country,
        applied=applied,
        yearly_seasonality=fit is not None and n >= MIN_DAYS_FOR_YEARLY,
        effect_scale=None if fit is None else ("relative" if fit.effects_relative else "absolute"),
        regressors=regressors,
    )


def _combine_fits(members: Sequence[ModelFit], spec: str, levels: Sequence[int]) -> ModelFit:
    mean = _reduce([m.mean for m in members])
    return ModelFit(COMBINATION, spec, mean, combine_intervals([m.intervals for m in members], levels))


def _choose(model: str, scores: dict[str, CandidateScore], finals: dict[str, ModelFit]) -> str:
    if model != "auto":
        if model not in finals:
            reason = scores[model].error if model in scores else "too few models could be fitted"
            raise ValidationFailed(f"Model {model!r} could not be fitted on this series: {reason}.")
        return model
    scored = [s for s in scores.values() if s.mase is not None]
    if not scored:
        raise ValidationFailed("No candidate model could be fitted on this series.")
    best = min(scored, key=lambda s: (s.mase, s.smape))
    default = scores.get(_default_model(scores))
    if default is None or default.mase is None or best.model == default.model:
        return best.model
    assert best.mase is not None  # narrowed by the filter above
    return best.model if best.mase < (1 - SELECTION_MARGIN) * default.mase else default.model


def _default_model(scores: dict[str, CandidateScore]) -> str:
    """The model kept unless another beats it by ``SELECTION_MARGIN`` in the backtest.

    Usually the combination. For daily data with two years of history it is MSTL, a candidate
    with a yearly cycle: the backtest windows cover the last weeks of history and cannot reward
    a yearly pattern (a December peak) they do not contain. The calendar model (holidays,
    events, weekly and yearly cycles) takes the seat when its backtest error is not above that
    default's: the backtest decides whether the calendar helps.
    """
    mstl = scores.get("mstl")
    default = "mstl" if mstl is not None and mstl.mase is not None else COMBINATION
    calendar, other = scores.get("calendar"), scores.get(default)
    if calendar is None or calendar.mase is None:
        return default
    if other is None or other.mase is None or calendar.mase <= other.mase:
        return "calendar"
    return default


def _at_least_zero(mean: FloatArray, intervals: IntervalSet) -> tuple[FloatArray, IntervalSet, bool]:
    """Forecast and bounds cut at zero, and whether anything was cut.

    Cutting (rather than a log or Box-Cox fit) keeps each interval's coverage of a
    non-negative actual exactly as it was, and leaves positive forecasts untouched.
    """
    cut = bool(np.any(mean < 0)) or any(np.any(low < 0) for low, _ in intervals.values())
    bounded = {
        level: (np.maximum(low, 0.0), np.maximum(high, 0.0)) for level, (low, high) in intervals.items()
    }
    return np.maximum(mean, 0.0), bounded, cut


def _warnings(
    y: FloatArray,
    season_length: int,
    mean: FloatArray,
    run: BacktestRun,
    score: CandidateScore,
    improvement: float | None,
    chosen: str,
) -> list[str]:
    notes: list[str] = []
    if len(y) < minimum_history(len(mean), season_length):
        notes.append(
            f"Short history ({len(y)} observations): the backtest trained on {run.origins[0]} "
            "points only; treat the accuracy figures as indicative."
        )
    if len(run.origins) < 2:
        notes.append("Only one backtest origin fitted in the history; accuracy scores are less reliable.")
    if improvement is not None and improvement < 0:
        notes.append(f"The {chosen} forecast did not beat the seasonal-naive baseline in the backtest.")
    if score.smape is not None and score.smape > 50:
        notes.append("Backtest error is high (sMAPE above 50%); the series may be hard to forecast.")
    return notes


def forecast_series(
    series: RegularSeries,
    horizon: int,
    *,
    model: str = "auto",
    levels: Sequence[float] = DEFAULT_LEVELS,
    max_origins: int | None = None,
    non_negative: bool | None = None,
    calendar: CalendarInput | None = None,
) -> ForecastResult:
    """``forecast_values`` on a built series, with period timestamps and the series' warnings.

    ``calendar``: the holiday country and marked events; used by daily series (regressors of
    the ``calendar`` candidate), ignored by the others.
    """
    design = None
    if calendar is not None and series.frequency == "day":
        try:
            design = calendar_design(series.timestamps[0].date(), len(series.values), horizon, calendar)
        except ValueError as exc:
            raise ValidationFailed(
                f"No public-holiday calendar for country '{calendar.country}'; give an ISO 3166 code "
                "such as US, GB, DE, or none.",
                code="unknown_holiday_country",
                context={"holiday_country": calendar.country},
            ) from exc
    result = forecast_values(
        series.values,
        horizon,
        series.season_length,
        model=model,
        levels=levels,
        max_origins=max_origins,
        non_negative=non_negative,
        calendar=design,
    )
    future = series.future_timestamps(horizon)
    points = [
        ForecastPoint(p.step, future[i].to_pydatetime(), p.mean, p.lower, p.upper)
        for i, p in enumerate(result.points)
    ]
    return ForecastResult(
        **{
            **result.__dict__,
            "points": points,
            "frequency": series.frequency,
            "history_start": series.timestamps[0].to_pydatetime(),
            "history_end": series.timestamps[-1].to_pydatetime(),
            "warnings": [*series.warnings, *result.warnings],
        },
    )


def forecast_points(
    points: Iterable[tuple[TimestampLike, float | None]],
    horizon: int,
    *,
    frequency: Frequency | None = None,
    gap_rule: GapRule = "interpolate",
    aggregate: Aggregate = "sum",
    as_of: TimestampLike | None = None,
    model: str = "auto",
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> ForecastResult:
    """Build the regular series from raw (ts, value) points, then forecast it."""
    series = build_series(points, frequency=frequency, gap_rule=gap_rule, aggregate=aggregate, as_of=as_of)
    return forecast_series(series, horizon, model=model, levels=levels)
