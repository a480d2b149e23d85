"""Granger causality on constructed lagged series, and BH-corrected screening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.evidence import granger_causality, screen_drivers

LAG = 3


def _lagged_pair(n: int, seed: int) -> pd.DataFrame:
    """y depends on x three periods earlier (and on its own past); x is white noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.zeros(n)
    for i in range(LAG, n):
        y[i] = 0.6 * x[i - LAG] + 0.3 * y[i - 1] + rng.normal()
    return pd.DataFrame({"x": x, "y": y})


def test_granger_finds_the_constructed_lag() -> None:
    result = granger_causality(_lagged_pair(300, seed=1), cause="x", effect="y", max_lag=6)
    assert result.chosen_lag == LAG
    assert result.significant
    by_lag = {t.lag: t.p_value for t in result.lags}
    # Fewer lags than the true one cannot see x's influence (at most a chance blip); from the
    # true lag on every test sees it overwhelmingly.
    assert all(by_lag[k] > 1e-3 for k in range(1, LAG))
    assert all(by_lag[k] < 1e-6 for k in range(LAG, 7))
    assert not result.differenced
    assert "not proof" in result.note


def test_granger_reverse_direction_is_not_significant() -> None:
    result = granger_causality(_lagged_pair(300, seed=2), cause="y", effect="x", max_lag=6)
    assert not result.significant


def test_granger_differences_trending_series() -> None:
    frame = _lagged_pair(300, seed=3)
    trended = frame.assign(y=frame["y"].cumsum(), x=frame["x"].cumsum())
    result = granger_causality(trended, cause="x", effect="y", max_lag=4)
    assert result.differenced
    assert result.stationarity_p_values["y"] > 0.05


def test_granger_error_cases() -> None:
    frame = _lagged_pair(40, seed=4)
    with pytest.raises(ValidationFailed, match="Too few"):
        granger_causality(frame, cause="x", effect="y", max_lag=6)
    with pytest.raises(ValidationFailed, match="constant"):
        granger_causality(frame.assign(x=1.0), cause="x", effect="y", max_lag=1)
    with pytest.raises(ValidationFailed):
        granger_causality(frame, cause="nope", effect="y", max_lag=1)


def test_bh_screening_of_pure_noise_makes_few_false_discoveries() -> None:
    rng = np.random.default_rng(5)
    n_candidates = 200
    frame = pd.DataFrame(
        rng.normal(size=(100, n_candidates + 1)), columns=["y", *[f"c{i}" for i in range(n_candidates)]]
    )
    result = screen_drivers(frame, outcome="y", false_discovery_rate=0.1)

    raw_hits = sum(c.p_value < 0.05 for c in result.candidates)
    discoveries = sum(c.discovered for c in result.candidates)
    assert raw_hits >= 3  # uncorrected testing would "find" drivers in noise ...
    assert discoveries <= 1  # ... the BH correction does not
    assert result.kind == "screening" and "not causation" in result.note
    assert all(c.q_value >= c.p_value for c in result.candidates)


def test_screening_still_finds_a_real_driver_among_noise() -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.normal(size=(100, 51)), columns=["y", *[f"c{i}" for i in range(50)]])
    frame["driver"] = 0.5 * frame["y"] + rng.normal(size=100)
    result = screen_drivers(frame, outcome="y", method="pearson")
    assert result.candidates[0].name == "driver"
    assert [c.name for c in result.candidates if c.discovered] == ["driver"]


def test_screening_error_cases() -> None:
    frame = pd.DataFrame({"y": np.arange(30.0), "c": np.ones(30)})
    with pytest.raises(ValidationFailed):
        screen_drivers(frame, outcome="y")
    with pytest.raises(ValidationFailed):
        screen_drivers(frame, outcome="missing")
    with pytest.raises(ValidationFailed):
        screen_drivers(frame.assign(c=np.arange(30.0) % 7), outcome="y", method="kendall")
