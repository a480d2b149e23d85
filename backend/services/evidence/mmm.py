"""Marketing-mix model: per-channel adstock and saturation over a calendar baseline.

The parametrisation follows the open-source references (Meta's Robyn, Google's Meridian,
PyMC-Marketing):

* **adstock** — geometric carry-over, normalised so its weights sum to one (PyMC-Marketing's
  ``geometric_adstock(normalize=True)``): ``a_t = (1 - θ) x_t + θ a_{t-1}``, decay ``θ`` in
  ``[0, MAX_DECAY]``. A sustained spend ``x`` per bucket settles at ``a = x``, so the response
  curve of a steady budget is the saturation curve itself;
* **saturation** — PyMC-Marketing's logistic saturation ``β (1 - e^{-λa}) / (1 + e^{-λa})`` on
  spend scaled by its mean: zero at zero spend, concave, so the budget optimiser's linear
  programme over a sampled curve is exact (a Hill curve with shape > 1 is S-shaped and
  would need binaries), with ``β ≥ 0`` (a channel never lowers the outcome);
* **baseline** — intercept plus the evidence calendar (:func:`design.calendar_frame`: day of
  week, yearly Fourier season, public holidays, linear trend).

Fit: bounded non-linear least squares (``scipy.optimize.least_squares``, trust-region
reflective) over all parameters jointly, from a few starts. A Bayesian fit (PyMC-Marketing,
Meridian) runs MCMC for minutes on two cores and brings heavy dependencies; this fit takes
well under a second for two years of daily data with four channels. **Uncertainty**: a
moving-block bootstrap of the residuals (blocks of ``ceil(n^{1/3})`` buckets keep their
autocorrelation), each draw refitted from the point estimate; intervals are the draws'
percentiles. Fit quality is reported in sample and on a held-out tail (the last
``HOLDOUT_SHARE`` of buckets, predicted by a fit on the rest).

Pure computation: a frame in, a :class:`MmmFit` out; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.signal import lfilter

from backend.services.errors import ValidationFailed
from backend.services.evidence.design import calendar_frame
from backend.services.evidence.table import independent_columns
from backend.services.evidence.types import (
    ChannelFit,
    CurvePoint,
    Decomposition,
    FitQuality,
    Interval,
    MmmFit,
)

MAX_DECAY = 0.9
MIN_SATURATION, MAX_SATURATION = 0.02, 20.0
# Minimum history: MIN_BUCKETS buckets, and at least BUCKETS_PER_PARAMETER per fitted parameter.
MIN_BUCKETS = 56
BUCKETS_PER_PARAMETER = 5
MAX_BUCKETS = 1500
HOLDOUT_SHARE = 0.1
# Two channels whose spends correlate this much cannot be told apart.
COLLINEAR_CORRELATION = 0.999
CURVE_POINTS = 21
CURVE_SPAN = 2.0  # response curves run to this multiple of the largest bucket spend seen
_STARTS = ((0.3, 0.5), (0.3, 2.0), (0.7, 0.5), (0.7, 2.0))
POINT_FIT_STARTS = len(_STARTS)
# A fit reports its progress after the point fit and after every this many bootstrap refits.
BOOTSTRAP_BATCH = 10

# Progress of one fit: (bootstrap refits done, refits asked for); called in the fitting thread.
FitProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Problem:
    y: np.ndarray  # outcome / y_scale
    x: np.ndarray  # (n, C) spend / spend_scale
    base: np.ndarray  # (n, K) intercept + calendar
    observed: np.ndarray  # rows with an outcome


def saturation(adstocked: np.ndarray, lam: float | np.ndarray) -> np.ndarray:
    """PyMC-Marketing's logistic saturation, 0 at 0 and concave."""
    e = np.exp(-lam * adstocked)
    result: np.ndarray = (1 - e) / (1 + e)
    return result


def adstock(x: np.ndarray, decay: float) -> np.ndarray:
    """Normalised geometric adstock along axis 0."""
    result: np.ndarray = lfilter([1 - decay], [1, -decay], x, axis=0)
    return result


def _channel_terms(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    c = x.shape[1]
    decays, lams = params[:c], params[c : 2 * c]
    return np.column_stack([saturation(adstock(x[:, i], decays[i]), lams[i]) for i in range(c)])


def _predict(params: np.ndarray, problem: _Problem) -> tuple[np.ndarray, np.ndarray]:
    c = problem.x.shape[1]
    betas = params[2 * c : 3 * c]
    channels = _channel_terms(params, problem.x) * betas
    baseline = problem.base @ params[3 * c :]
    return baseline, channels


def _residual(params: np.ndarray, problem: _Problem, y: np.ndarray) -> np.ndarray:
    baseline, channels = _predict(params, problem)
    result: np.ndarray = (baseline + channels.sum(axis=1) - y)[problem.observed]
    return result


def _bounds(c: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    low = np.concatenate([np.zeros(c), np.full(c, MIN_SATURATION), np.zeros(c), np.full(k, -np.inf)])
    high = np.concatenate(
        [np.full(c, MAX_DECAY), np.full(c, MAX_SATURATION), np.full(c, np.inf), np.full(k, np.inf)]
    )
    return low, high


def _start(problem: _Problem, y: np.ndarray, decay: float, lam: float) -> np.ndarray:
    """Curve parameters at a start; β and baseline from a linear least-squares at those curves."""
    c = problem.x.shape[1]
    shape = np.concatenate([np.full(c, decay), np.full(c, lam)])
    design = np.column_stack([_channel_terms(shape, problem.x), problem.base])[problem.observed]
    coef, *_ = np.linalg.lstsq(design, y[problem.observed], rcond=None)
    coef[:c] = np.clip(coef[:c], 1e-6, None)
    return np.concatenate([shape, coef])


def _fit(problem: _Problem, y: np.ndarray, starts: Sequence[np.ndarray]) -> np.ndarray:
    low, high = _bounds(problem.x.shape[1], problem.base.shape[1])
    best: np.ndarray | None = None
    best_cost = np.inf
    for start in starts:
        solution = least_squares(
            _residual,
            np.clip(start, low, high),
            bounds=(low, high),
            args=(problem, y),
            method="trf",
            x_scale="jac",
        )
        if solution.cost < best_cost:
            best, best_cost = solution.x, solution.cost
    assert best is not None
    return best


def _fresh_fit(problem: _Problem, y: np.ndarray) -> np.ndarray:
    return _fit(problem, y, [_start(problem, y, decay, lam) for decay, lam in _STARTS])


# --------------------------------------------------------------------------- checks


def _fail(message: str, code: str, **details: object) -> ValidationFailed:
    return ValidationFailed(message, code=code, context=dict(details))


def check_spends(frame: pd.DataFrame, channels: Sequence[str]) -> None:
    """Refuse spends no model can learn from: negative, all zero, constant, or collinear pairs."""
    for name in channels:
        values = frame[name].to_numpy()
        if (values < 0).any():
            raise _fail(f"Spend metric '{name}' has negative values.", "negative_spend", channel=name)
        if not values.any():
            raise _fail(
                f"Spend metric '{name}' is zero in every bucket: its effect cannot be estimated.",
                "all_zero_spend",
                channel=name,
            )
        if np.allclose(values, values[0]):
            raise _fail(
                f"Spend metric '{name}' is the same in every bucket: no effect can be told from baseline.",
                "constant_spend",
                channel=name,
                value=float(values[0]),
            )
    for i, first in enumerate(channels):
        for second in channels[i + 1 :]:
            corr = float(np.corrcoef(frame[first], frame[second])[0, 1])
            if abs(corr) >= COLLINEAR_CORRELATION:
                raise _fail(
                    f"Spend metrics '{first}' and '{second}' move together (correlation {corr:.4f}): "
                    "their effects cannot be told apart; model them as one channel.",
                    "collinear_channels",
                    channels=[first, second],
                    correlation=corr,
                )


def minimum_buckets(channels: int, calendar_columns: int) -> int:
    parameters = 3 * channels + calendar_columns + 1
    return max(MIN_BUCKETS, BUCKETS_PER_PARAMETER * parameters)


# --------------------------------------------------------------------------- the fit


@dataclass(frozen=True)
class MmmQuestion:
    outcome: str
    channels: Sequence[str]
    frequency: str
    holiday_country: str | None
    bootstrap_draws: int
    confidence_level: float = 0.95
    seed: int = 0


def _problem(frame: pd.DataFrame, q: MmmQuestion) -> tuple[_Problem, float, np.ndarray, list[str]]:
    index = pd.DatetimeIndex(frame.index)
    calendar = calendar_frame(index, q.frequency, q.holiday_country)
    kept = independent_columns(calendar, list(calendar.columns))
    base = np.column_stack([np.ones(len(frame)), calendar[kept].to_numpy()])
    observed = frame[q.outcome].notna().to_numpy()
    y_raw = frame[q.outcome].to_numpy(dtype="float64")
    y_scale = float(np.nanmean(np.abs(y_raw))) or 1.0
    spend_scale = frame[list(q.channels)].mean().to_numpy(dtype="float64")
    x = frame[list(q.channels)].to_numpy(dtype="float64") / spend_scale
    y = np.where(observed, y_raw, 0.0) / y_scale
    return _Problem(y=y, x=x, base=base, observed=observed), y_scale, spend_scale, kept


def _quality(actual: np.ndarray, predicted: np.ndarray) -> tuple[float, float | None]:
    total = float(((actual - actual.mean()) ** 2).sum())
    r2 = 1 - float(((actual - predicted) ** 2).sum()) / total if total > 0 else 0.0
    nonzero = actual != 0
    mape = float(np.mean(np.abs((actual - predicted)[nonzero] / actual[nonzero]))) if nonzero.any() else None
    return r2, mape


def _holdout(problem: _Problem, params: np.ndarray) -> tuple[float | None, float | None, int]:
    n = len(problem.y)
    tail = max(1, round(HOLDOUT_SHARE * n))
    train = problem.observed.copy()
    train[n - tail :] = False
    test = problem.observed & ~train
    if test.sum() < 2:
        return None, None, 0
    fitted = _fit(_Problem(problem.y, problem.x, problem.base, train), problem.y, [params])
    baseline, channels = _predict(fitted, problem)
    r2, mape = _quality(problem.y[test], (baseline + channels.sum(axis=1))[test])
    return r2, mape, int(test.sum())


def _bootstrap(
    problem: _Problem, params: np.ndarray, draws: int, seed: int, progress: FitProgress | None = None
) -> list[np.ndarray]:
    """Moving-block bootstrap of residuals, each draw refitted from the point estimate."""
    baseline, channels = _predict(params, problem)
    fitted = baseline + channels.sum(axis=1)
    residual = (problem.y - fitted)[problem.observed]
    n = len(residual)
    block = max(2, math.ceil(n ** (1 / 3)))
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(draws):
        starts = rng.integers(0, n - block + 1, size=math.ceil(n / block))
        resampled = np.concatenate([residual[s : s + block] for s in starts])[:n]
        y = fitted.copy()
        y[problem.observed] += resampled - resampled.mean()
        results.append(_fit(problem, y, [params]))
        if progress is not None and (len(results) % BOOTSTRAP_BATCH == 0 or len(results) == draws):
            progress(len(results), draws)
    return results


def _channel_response(params: np.ndarray, i: int, c: int, spend_scaled: np.ndarray) -> np.ndarray:
    """Steady-state response (scaled outcome per bucket) to a sustained scaled spend."""
    response: np.ndarray = params[2 * c + i] * saturation(spend_scaled, params[c + i])
    return response


def _channel_marginal(params: np.ndarray, i: int, c: int, spend_scaled: float) -> float:
    lam, beta = params[c + i], params[2 * c + i]
    # d/da (1 - e)/(1 + e) = 2 λ e / (1 + e)^2
    e = math.exp(-lam * spend_scaled)
    return float(beta * 2 * lam * e / (1 + e) ** 2)


def _checked_problem(frame: pd.DataFrame, q: MmmQuestion) -> tuple[_Problem, float, np.ndarray, list[str]]:
    channels = list(q.channels)
    check_spends(frame[frame[q.outcome].notna()], channels)
    problem, y_scale, spend_scale, kept = _problem(frame, q)
    needed = minimum_buckets(len(channels), len(kept))
    if int(problem.observed.sum()) < needed:
        raise _fail(
            f"Too short a history: {int(problem.observed.sum())} buckets with the outcome; a model of "
            f"{len(channels)} channels with calendar controls needs at least {needed} "
            f"({MIN_BUCKETS} at least, and {BUCKETS_PER_PARAMETER} per fitted parameter).",
            "too_short_history",
            observations=int(problem.observed.sum()),
            required=needed,
        )
    return problem, y_scale, spend_scale, kept


def check_frame(frame: pd.DataFrame, q: MmmQuestion) -> list[str]:
    """Every data check of :func:`fit_mmm`, without fitting: the calendar columns the fit would keep."""
    return _checked_problem(frame, q)[3]


def fit_mmm(frame: pd.DataFrame, q: MmmQuestion, progress: FitProgress | None = None) -> MmmFit:
    """Fit the model on ``frame`` (regular grid of buckets; spend columns complete, outcome may miss).

    ``progress`` is called after the point fit (0 refits done) and every ``BOOTSTRAP_BATCH`` refits.
    """
    channels = list(q.channels)
    problem, y_scale, spend_scale, kept = _checked_problem(frame, q)
    params = _fresh_fit(problem, problem.y)
    if progress is not None:
        progress(0, q.bootstrap_draws)
    draws = _bootstrap(problem, params, q.bootstrap_draws, q.seed, progress)
    holdout_r2, holdout_mape, holdout_n = _holdout(problem, params)
    baseline, contributions = _predict(params, problem)
    obs = problem.observed
    r2, mape = _quality(problem.y[obs], (baseline + contributions.sum(axis=1))[obs])
    alpha = (1 - q.confidence_level) / 2
    c = len(channels)

    def interval(point: float, values: Sequence[float]) -> Interval:
        low, high = np.quantile(values, [alpha, 1 - alpha]) if values else (point, point)
        return Interval(value=point, low=float(min(low, point)), high=float(max(high, point)))

    raw = frame[channels].to_numpy(dtype="float64")
    contribution_totals = contributions[obs].sum(axis=0) * y_scale
    channel_total = float(contribution_totals.sum())
    fits: list[ChannelFit] = []
    for i, name in enumerate(channels):
        spend_total = float(raw[obs, i].sum())
        mean_scaled = float(problem.x[obs, i].mean())
        per_draw_contribution = [float(_predict(d, problem)[1][obs, i].sum() * y_scale) for d in draws]
        marginal = [_channel_marginal(d, i, c, mean_scaled) * y_scale / spend_scale[i] for d in draws]
        grid = np.linspace(0.0, CURVE_SPAN * float(raw[:, i].max()), CURVE_POINTS)
        curve_draws = np.array([_channel_response(d, i, c, grid / spend_scale[i]) for d in draws]) * y_scale
        curve = _channel_response(params, i, c, grid / spend_scale[i]) * y_scale
        low_curve, high_curve = (
            np.quantile(curve_draws, [alpha, 1 - alpha], axis=0) if draws else (curve, curve)
        )
        contribution = float(contribution_totals[i])
        fits.append(
            ChannelFit(
                name=name,
                decay=float(params[i]),
                saturation=float(params[c + i]),
                coefficient=float(params[2 * c + i] * y_scale),
                spend_scale=float(spend_scale[i]),
                total_spend=spend_total,
                mean_spend=float(raw[obs, i].mean()),
                contribution=interval(contribution, per_draw_contribution),
                share=contribution / channel_total if channel_total > 0 else 0.0,
                roi=interval(contribution / spend_total, [v / spend_total for v in per_draw_contribution]),
                marginal_roi=interval(
                    _channel_marginal(params, i, c, mean_scaled) * y_scale / spend_scale[i], marginal
                ),
                response_curve=[
                    CurvePoint(
                        spend=float(s), response=float(r), low=float(min(lo, r)), high=float(max(hi, r))
                    )
                    for s, r, lo, hi in zip(grid, curve, low_curve, high_curve, strict=True)
                ],
            )
        )
    index = pd.DatetimeIndex(frame.index)[obs]
    return MmmFit(
        outcome=q.outcome,
        frequency=q.frequency,
        buckets=int(obs.sum()),
        baseline_total=float(baseline[obs].sum() * y_scale),
        outcome_total=float(problem.y[obs].sum() * y_scale),
        channels=fits,
        fit=FitQuality(
            r2=r2, mape=mape, holdout_r2=holdout_r2, holdout_mape=holdout_mape, holdout_buckets=holdout_n
        ),
        decomposition=Decomposition(
            buckets=[ts.isoformat() for ts in index],
            outcome=[float(v) for v in problem.y[obs] * y_scale],
            baseline=[float(v) for v in baseline[obs] * y_scale],
            channels={
                name: [float(v) for v in contributions[obs, i] * y_scale] for i, name in enumerate(channels)
            },
        ),
        calendar_controls=kept,
        holiday_country=q.holiday_country,
        bootstrap_draws=len(draws),
        method=(
            "bounded non-linear least squares (scipy trust-region reflective), geometric adstock + logistic "
            f"saturation, moving-block residual bootstrap ({len(draws)} refits)"
        ),
    )


def period_response(channel: ChannelFit, period_spend: float, buckets: float) -> float:
    """Expected outcome over ``buckets`` buckets from ``period_spend`` spread evenly (steady state)."""
    per_bucket = period_spend / buckets / channel.spend_scale
    return float(buckets * channel.coefficient * saturation(np.asarray(per_bucket), channel.saturation))
