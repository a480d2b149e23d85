"""Synthetic data with a known effect and known confounding, for the evidence engine tests.

Continuous design (``confounded_continuous``)::

    w1, w2 ~ N(0, 1) independent
    t = a1·w1 + a2·w2 + N(0, 1)
    y = effect·t + b1·w1 + b2·w2 + N(0, 1)

Both confounders push t and y the same way, so the naive slope of y on t is biased
upwards by (a1·b1 + a2·b2) / (a1² + a2² + 1); adjusting for w1 and w2 removes the bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from backend.services.evidence import CausalSettings
from backend.services.evidence.series_analysis import SeriesQuestion, analyze_series
from backend.services.evidence.table import lag_column
from backend.services.evidence.types import CausalResult, DesignKind


def confounded_continuous(
    *,
    n: int,
    effect: float,
    a: tuple[float, float],
    b: tuple[float, float],
    seed: int,
) -> pd.DataFrame:
    """Columns t, y, w1, w2 following the design in the module docstring."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.normal(size=n)
    t = a[0] * w1 + a[1] * w2 + rng.normal(size=n)
    y = effect * t + b[0] * w1 + b[1] * w2 + rng.normal(size=n)
    return pd.DataFrame({"t": t, "y": y, "w1": w1, "w2": w2})


def naive_bias(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Expected bias of the unadjusted slope in :func:`confounded_continuous`."""
    return (a[0] * b[0] + a[1] * b[1]) / (a[0] ** 2 + a[1] ** 2 + 1)


def confounded_binary(*, n: int, effect: float, strength: float, seed: int) -> pd.DataFrame:
    """Binary treatment with logistic assignment on w1, w2; ``strength`` controls overlap.

    P(t=1) = logistic(strength·(w1 + w2)); y = effect·t + w1 + w2 + N(0, 1). Large
    ``strength`` pushes propensities toward 0 and 1, i.e. poor overlap.
    """
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.normal(size=n)
    propensity = 1 / (1 + np.exp(-strength * (w1 + w2)))
    t = (rng.uniform(size=n) < propensity).astype(float)
    y = effect * t + w1 + w2 + rng.normal(size=n)
    return pd.DataFrame({"t": t, "y": y, "w1": w1, "w2": w2})


# --------------------------------------------------------------------------- daily shop series

DAILY_START = "2024-01-01"


def _ar1(rng: np.random.Generator, n: int, phi: float, scale: float) -> np.ndarray:
    noise = rng.normal(0, scale, n)
    out = np.empty(n)
    out[0] = noise[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + noise[i]
    return out


def shop_series(
    *,
    kind: str,
    n: int = 730,
    seed: int,
    effect: float = 2.0,
    lag_effect: float = 0.0,
) -> pd.DataFrame:
    """Two years of daily shop metrics (index: local days from 2024-01-01) with a known truth.

    ``kind``:

    * ``shared_trend`` — lever and revenue both grow over time; the lever has no effect.
    * ``random_walk`` — lever and revenue are independent random walks; no effect.
    * ``shared_random_walk`` — one unobserved random walk (demand) drives both; no effect.
    * ``seasonal`` — the lever follows the year, the week and a promo; revenue gets ``effect``
      per unit of lever today (plus ``lag_effect`` per unit of yesterday's lever), the season,
      the weekend, US public holidays, the promo, a trend and AR(1) noise.

    Every frame has ``price`` (unrelated to both), ``promo`` and ``visits`` (a negative control:
    driven by the season and the promo, never by the lever).
    """
    import holidays

    rng = np.random.default_rng(seed)
    index = pd.date_range(DAILY_START, periods=n, freq="D")
    t = np.arange(n, dtype="float64")
    year = 2 * np.pi * t / 365.25
    weekend = (index.day_of_week >= 5).astype("float64")
    us = holidays.country_holidays("US", years=range(index[0].year, index[-1].year + 1))
    holiday = np.array([d.date() in us for d in index], dtype="float64")
    promo = (rng.uniform(size=n) < 0.15 + 0.25 * weekend).astype("float64")
    price = 10 + rng.normal(0, 1, n)
    visits = 300 + 40 * np.sin(year) + 50 * promo + rng.normal(0, 10, n)
    if kind == "shared_trend":
        lever = 50 + 0.05 * t + _ar1(rng, n, 0.6, 3)
        revenue = 500 + 0.4 * t + _ar1(rng, n, 0.6, 20)
    elif kind == "random_walk":
        lever = 50 + np.cumsum(rng.normal(0, 1, n))
        revenue = 500 + np.cumsum(rng.normal(0, 8, n))
    elif kind == "shared_random_walk":
        demand = np.cumsum(rng.normal(0, 1, n))
        lever = 50 + 2 * demand + rng.normal(0, 3, n)
        revenue = 500 + 15 * demand + rng.normal(0, 20, n)
    elif kind == "seasonal":
        lever = 40 + 8 * np.sin(year) + 6 * weekend + 8 * promo + rng.normal(0, 4, n)
        previous = np.concatenate([[lever[0]], lever[:-1]])
        revenue = (
            300
            + effect * lever
            + lag_effect * previous
            + 60 * np.sin(year)
            + 30 * weekend
            + 80 * holiday
            + 40 * promo
            + 0.1 * t
            + _ar1(rng, n, 0.5, 10)
        )
    else:
        raise ValueError(kind)
    return pd.DataFrame(
        {"lever": lever, "revenue": revenue, "price": price, "promo": promo, "visits": visits}, index=index
    )


def analyze_lever(
    frame: pd.DataFrame,
    settings: CausalSettings,
    *,
    confounders: Sequence[str],
    lags: Sequence[int] = (),
    design: DesignKind = "time_series",
    negative_controls: Sequence[str] = (),
) -> CausalResult:
    """The effect of ``lever`` on ``revenue`` in a :func:`shop_series` frame, daily, US holidays,
    with a column per lag of the lever."""
    for lag in lags:
        frame = frame.assign(**{lag_column("lever", lag): frame["lever"].shift(lag)})
    question = SeriesQuestion(
        treatment="lever",
        outcome="revenue",
        confounders=list(confounders),
        lags=list(lags),
        edges=[],
        method="linear_regression",
        target_units="ate",
        randomized=False,
        frequency="D",
        design=design,
        holiday_country="US",
        negative_controls=list(negative_controls),
    )
    return analyze_series(frame.dropna(), question, settings)
