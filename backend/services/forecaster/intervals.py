"""Prediction intervals: normal (analytic), empirical (backtest errors) and combined."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

FloatArray = npt.NDArray[np.float64]
# level (e.g. 80, 95) -> (lower, upper) arrays over the horizon
IntervalSet = dict[int, tuple[FloatArray, FloatArray]]

DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


def z_score(level: float) -> float:
    """The standard normal quantile bounding a central ``level``% interval (1.96 for 95).

    ``ndtri`` is the normal quantile as a bare ufunc; ``scipy.stats.norm.ppf`` checks its
    arguments on every call, which cost more than the interval arithmetic around it.
    """
    return float(ndtri(0.5 + level / 200))


def validate_levels(levels: Sequence[float]) -> tuple[int, ...]:
    """Levels as sorted distinct integers strictly between 0 and 100."""
    cleaned = sorted({round(level) for level in levels})
    if any(level <= 0 or level >= 100 for level in cleaned):
        raise ValueError("interval levels must lie strictly between 0 and 100")
    return tuple(cleaned)


def normal_intervals(mean: FloatArray, sd: FloatArray, levels: Sequence[int]) -> IntervalSet:
    """Symmetric Gaussian intervals ``mean ± z·sd`` for each level."""
    intervals: IntervalSet = {}
    for level in levels:
        z = z_score(level)
        intervals[level] = (mean - z * sd, mean + z * sd)
    return intervals


def normal_levels(mean: FloatArray, intervals: IntervalSet, levels: Sequence[int]) -> IntervalSet:
    """Every level of a normal interval, from the one level given (none given: none returned).

    statsforecast's ETS, Theta, ARIMA and naive-family intervals are ``mean ± z·sd``; the
    spread of each side is read off the given level and rescaled to the others.
    """
    if not intervals:
        return {}
    given = max(intervals)
    low, high = intervals[given]
    z_given = z_score(given)
    result: IntervalSet = {}
    for level in levels:
        ratio = z_score(level) / z_given
        result[level] = (mean - ratio * (mean - low), mean + ratio * (high - mean))
    return result


def empirical_intervals(
    mean: FloatArray, errors_by_step: Sequence[FloatArray], levels: Sequence[int]
) -> IntervalSet:
    """Intervals from backtest errors (actual − forecast) at each horizon step.

    With few origins a step has few errors, so the spread is estimated from all steps
    rescaled by ``sqrt(step)`` (random-walk growth), then scaled back per step; quantiles
    of those pooled standardized errors give asymmetric bounds when the errors are skewed.
    """
    h = len(mean)
    pooled = np.concatenate(
        [
            np.asarray(errors, dtype=np.float64) / np.sqrt(step + 1)
            for step, errors in enumerate(errors_by_step)
        ]
    )
    pooled = pooled[np.isfinite(pooled)]
    scale = np.sqrt(np.arange(1, h + 1))
    intervals: IntervalSet = {}
    for level in levels:
        if len(pooled) < 2:
            intervals[level] = (mean.copy(), mean.copy())
            continue
        tail = (100 - level) / 200
        low, high = np.quantile(pooled, [tail, 1 - tail])
        intervals[level] = (mean + low * scale, mean + high * scale)
    return intervals


def combine_intervals(members: Sequence[IntervalSet], levels: Sequence[int]) -> IntervalSet:
    """Intervals of the equal-weight mixture ("linear pool") of the members' forecasts.

    Each member's interval at a level is read as a normal distribution; the bounds are the
    mixture's quantiles, found by bisection. Unlike averaging the bounds, the pool widens
    when the members disagree, which is the model uncertainty a single model's interval
    leaves out (on simulated ARIMA data, averaged bounds covered ~90% at the 95% level,
    the pool ~94%).
    """
    usable = [level for level in levels if any(level in member for member in members)]
    if not usable:
        return {}
    # Every level's member normals, stacked: (levels, members, steps). A member without a
    # level is left out of that level's pool only (its spread is infinite there, and its
    # weight is taken off the level's count).
    first = next(iter(next(member for member in members if member).values()))[0]
    centres = np.zeros((len(usable), len(members), len(first)))
    spreads = np.full_like(centres, np.inf)
    for i, level in enumerate(usable):
        z = z_score(level)
        for j, member in enumerate(members):
            if level in member:
                low, high = member[level]
                centres[i, j] = (low + high) / 2
                spreads[i, j] = np.maximum((high - low) / (2 * z), 1e-12)
    counts = np.isfinite(spreads).sum(axis=1)
    tails = np.array([[(100 - level) / 200, 1 - (100 - level) / 200] for level in usable])
    bounds = _mixture_quantiles(centres, spreads, counts, tails)
    return {level: (bounds[i, 0], bounds[i, 1]) for i, level in enumerate(usable)}


def _mixture_quantiles(
    centres: FloatArray, spreads: FloatArray, counts: npt.NDArray[np.int64], tails: FloatArray
) -> FloatArray:
    """Quantiles ``tails[level]`` of each level's equal-weight mixture of normals, per step.

    ``centres`` and ``spreads`` are (levels, members, steps), ``counts`` the members present
    per level and step; the answer is (levels, 2, steps). Bisection on every level and tail
    at once: each mixture quantile lies between the smallest and largest member quantile,
    and 32 halvings narrow that bracket to 2e-10 of its width, far below any figure shown.
    ``ndtr`` is the normal CDF as a bare ufunc (``norm.cdf``'s argument checks made this loop
    a third of a forecast's time).
    """
    present = np.isfinite(spreads)
    safe_spreads = np.where(present, spreads, 1.0)
    quantiles = centres[:, None] + ndtri(tails)[:, :, None, None] * safe_spreads[:, None]
    low = np.where(present[:, None], quantiles, np.inf).min(axis=2)
    high = np.where(present[:, None], quantiles, -np.inf).max(axis=2)
    inverse = 1.0 / spreads[:, None]  # 0 where a member is absent: it then adds ndtr(0) = 0.5
    absent = (~present).sum(axis=1)[:, None] * 0.5
    targets = tails[:, :, None] * counts[:, None] + absent
    for _ in range(32):
        middle = (low + high) / 2
        below = ndtr((middle[:, :, None] - centres[:, None]) * inverse).sum(axis=2) < targets
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.asarray((low + high) / 2, dtype=np.float64)


def ensure_ordered(mean: FloatArray, intervals: IntervalSet) -> IntervalSet:
    """Make bounds nested across levels and bracket the mean (simulated bounds can cross)."""
    ordered: IntervalSet = {}
    inner_low, inner_high = mean, mean
    for level in sorted(intervals):
        low, high = intervals[level]
        low = np.minimum(low, inner_low)
        high = np.maximum(high, inner_high)
        ordered[level] = (low, high)
        inner_low, inner_high = low, high
    return ordered


def coverage(
    actuals: Sequence[FloatArray], intervals: Sequence[IntervalSet], levels: Sequence[int]
) -> dict[int, float]:
    """Share of the actuals inside each level's bounds, pooled over backtest origins."""
    shares: dict[int, float] = {}
    for level in levels:
        inside = [
            (bounds[level][0] <= actual) & (actual <= bounds[level][1])
            for actual, bounds in zip(actuals, intervals, strict=True)
            if level in bounds
        ]
        if inside:
            shares[level] = float(np.mean(np.concatenate(inside)))
    return shares


def calibration_factor(
    actuals: Sequence[FloatArray],
    means: Sequence[FloatArray],
    intervals: Sequence[IntervalSet],
    prior_weight: float = 6.0,
    bounds: tuple[float, float] = (0.75, 3.0),
) -> float | None:
    """How many times wider the intervals should be, from the model's own backtest errors.

    Each held-out error is divided by the standard deviation its (widest) interval implies;
    the root mean square of those ratios is the factor (1 = the model's spread was right).
    A quantile of the ratios (split conformal) would need 19+ independent points for a 95%
    level, and a backtest has a few origins of correlated steps, so the spread is estimated
    instead, shrunk toward 1 with ``prior_weight`` pseudo-observations and kept in ``bounds``:
    never narrower by more than a quarter, since a few lucky origins must not make a forecast
    much surer than its model says.
    ``None`` when no interval has a positive width.
    """
    squared = []
    for actual, mean, sets in zip(actuals, means, intervals, strict=True):
        if not sets:
            continue
        widest = max(sets)
        low, high = sets[widest]
        sd = (high - low) / (2 * z_score(widest))
        if np.all(sd > 0):
            squared.append(((actual - mean) / sd) ** 2)
    if not squared:
        return None
    pooled = np.concatenate(squared)
    factor = float(np.sqrt((prior_weight + pooled.sum()) / (prior_weight + pooled.size)))
    return float(np.clip(factor, *bounds))


def scale_intervals(mean: FloatArray, intervals: IntervalSet, factor: float) -> IntervalSet:
    """Every level's bounds moved ``factor`` times as far from the mean."""
    return {
        level: (mean - factor * (mean - low), mean + factor * (high - mean))
        for level, (low, high) in intervals.items()
    }
