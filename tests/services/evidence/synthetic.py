"""Synthetic data with a known effect and known confounding, for the evidence engine tests.

Continuous design (``confounded_continuous``)::

    w1, w2 ~ N(0, 1) independent
    t = a1·w1 + a2·w2 + N(0, 1)
    y = effect·t + b1·w1 + b2·w2 + N(0, 1)

Both confounders push t and y the same way, so the naive slope of y on t is biased
upwards by (a1·b1 + a2·b2) / (a1² + a2² + 1); adjusting for w1 and w2 removes the bias.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
