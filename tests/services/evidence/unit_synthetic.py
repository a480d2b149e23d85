"""Simulated unit-level studies with a known truth, for the unit-study tests and the benchmark.

``confounded_units``: ``k`` covariates ``x1..xk ~ N(0, 1)``, each pushing both the treatment and
the outcome by the same amount (``strength``), so leaving out any one of them biases the
estimate by about ``strength² / (k·strength² + 1)`` per omitted covariate::

    continuous: t = strength·Σx + N(0, 1)
    binary:     t = 1[strength·Σx / sqrt(k) + N(0, 1) > 0]   (propensities stay well inside (0, 1))
    y = effect[segment]·t + strength·Σx + N(0, 1)

A ``segment`` column (``north``/``south``/``east`` by default) carries segment-specific effects;
an optional tiny segment exercises the "too small to estimate" rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from backend.services.evidence.types import UnitStudySpec


def confounded_units(
    *,
    n: int,
    covariates: int,
    effect: float | Mapping[str, float],
    seed: int,
    strength: float = 0.5,
    binary: bool = False,
    tiny_segment: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    effects = (
        dict(effect) if isinstance(effect, Mapping) else {"north": effect, "south": effect, "east": effect}
    )
    names = list(effects)
    segment = np.array([names[i % len(names)] for i in range(n)], dtype=object)
    x = rng.normal(size=(n, covariates))
    drive = strength * x.sum(axis=1)
    if binary:
        t = (drive / np.sqrt(covariates) + rng.normal(size=n) > 0).astype(float)
    else:
        t = drive + rng.normal(size=n)
    per_unit = np.array([effects[s] for s in segment])
    y = per_unit * t + drive + rng.normal(size=n)
    frame = pd.DataFrame({f"x{i + 1}": x[:, i] for i in range(covariates)})
    frame.insert(0, "outcome", y)
    frame.insert(0, "treatment", t)
    frame.insert(0, "unit", [f"u{i:05d}" for i in range(n)])
    frame["segment"] = segment
    if tiny_segment:
        frame.loc[frame.index[:tiny_segment], "segment"] = "tiny"
    return frame


def ab_test_spec(**options: Any) -> UnitStudySpec:
    """The study of an :func:`ab_test` table: variant B's randomised effect on the order value,
    adjusted for visits and the device (categorical); ``options``: the spec's other fields."""
    return UnitStudySpec(
        unit_id="visitor",
        treatment="variant_b",
        outcome="order_value",
        covariates=["visits"],
        categorical=["device"],
        randomized=True,
        **options,
    )


def ab_test(*, n: int, lift: float, seed: int) -> pd.DataFrame:
    """A randomised A/B test: variant B (treatment 1) adds ``lift`` to the order value."""
    rng = np.random.default_rng(seed)
    treated = rng.permutation(np.arange(n) % 2).astype(float)
    device = rng.choice(["mobile", "desktop", "tablet"], size=n, p=[0.6, 0.3, 0.1])
    visits = rng.poisson(5, size=n).astype(float)
    value = 40 + lift * treated + 2.0 * visits + np.where(device == "desktop", 8.0, 0.0) + rng.normal(0, 6, n)
    return pd.DataFrame(
        {
            "visitor": [f"v{i}" for i in range(n)],
            "variant_b": treated,
            "order_value": value.round(2),
            "visits": visits,
            "device": device,
        }
    )
