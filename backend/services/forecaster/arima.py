"""ARIMA / SARIMA with a small stepwise order search.

Differencing is decided first (seasonal by the 90% seasonality test, regular by
repeated KPSS tests), the series is differenced here, and only the ARMA part is
fitted by statsmodels' ``SARIMAX`` on the differenced data: that keeps the state
small (a seasonal fit takes ~30 ms instead of ~150 ms) and makes the AICc of all
orders comparable because they share one differenced series. Forecasts are
integrated back here, and intervals use the psi-weights of the full model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from statsmodels.tools.sm_exceptions import InterpolationWarning
from statsmodels.tsa.arima_process import arma2ma
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import kpss

from backend.services.forecaster.intervals import normal_intervals
from backend.services.forecaster.models import ModelFailed, ModelFit
from backend.services.forecaster.seasonality import is_seasonal

FloatArray = npt.NDArray[np.float64]
# (p, d, q, P, D, Q, m, with_constant)
ArimaSpec = tuple[int, int, int, int, int, int, int, bool]

_MAX_P = 3
_MAX_Q = 3
_MAX_FITS = 9


def _differencing_polynomial(d: int, seasonal_d: int, m: int) -> FloatArray:
    poly = np.array([1.0])
    for _ in range(d):
        poly = np.convolve(poly, [1.0, -1.0])
    for _ in range(seasonal_d):
        seasonal = np.zeros(m + 1)
        seasonal[0], seasonal[m] = 1.0, -1.0
        poly = np.convolve(poly, seasonal)
    return poly


def _difference(y: FloatArray, poly: FloatArray) -> FloatArray:
    k = len(poly) - 1
    if k == 0:
        return y.copy()
    # z_t = sum_j poly_j * y_{t-j}
    return np.convolve(y, poly, mode="valid")


def _integrate(history: FloatArray, z_forecast: FloatArray, poly: FloatArray) -> FloatArray:
    """Invert the differencing: y_t = z_t - sum_{j>=1} poly_j * y_{t-j}."""
    k = len(poly) - 1
    if k == 0:
        return z_forecast
    path = list(history[-k:])
    for z in z_forecast:
        path.append(z - sum(poly[j] * path[-j] for j in range(1, k + 1)))
    return np.asarray(path[k:], dtype=np.float64)


def _regular_differences(x: FloatArray) -> int:
    """KPSS at 5%, repeated, as in auto.arima: at most two regular differences."""
    d = 0
    with warnings.catch_warnings():
        # kpss warns when the statistic is outside its lookup table; the p-value is clipped and usable.
        warnings.simplefilter("ignore", InterpolationWarning)
        while d < 2 and len(x) > 10 and np.ptp(x) > 0:
            _, p_value, *_ = kpss(x, regression="c", nlags="auto", result_object=False)
            if p_value >= 0.05:
                break
            x = np.diff(x)
            d += 1
    return d


def _fit_arma(z: FloatArray, spec: ArimaSpec, start_params: FloatArray | None = None) -> Any:
    p, _, q, big_p, _, big_q, m, constant = spec
    seasonal_order = (big_p, 0, big_q, m) if m > 1 and (big_p or big_q) else (0, 0, 0, 0)
    model = SARIMAX(
        z,
        order=(p, 0, q),
        seasonal_order=seasonal_order,
        trend="c" if constant else "n",
        concentrate_scale=True,
    )
    return model.fit(start_params=start_params, disp=False, maxiter=50)


def _label(spec: ArimaSpec) -> str:
    p, d, q, big_p, big_d, big_q, m, constant = spec
    text = f"ARIMA({p},{d},{q})"
    if m > 1 and (big_p or big_d or big_q):
        text += f"({big_p},{big_d},{big_q})[{m}]"
    return text + (" with constant" if constant else "")


def _search(y: FloatArray, m: int) -> tuple[ArimaSpec, Any, FloatArray]:
    seasonal = m > 1 and is_seasonal(y, m)
    seasonal_d = 1 if seasonal and len(y) >= 2 * m + 4 else 0
    x = _difference(y, _differencing_polynomial(0, seasonal_d, m))
    d = _regular_differences(x)
    z = _difference(y, _differencing_polynomial(d, seasonal_d, m))
    if len(z) < 6:
        raise ModelFailed("too few observations after differencing")
    constant = d + seasonal_d <= 1
    allow_seasonal = seasonal and len(z) > 2 * m

    def spec_of(p: int, q: int, big_p: int, big_q: int) -> ArimaSpec:
        if not allow_seasonal:
            big_p = big_q = 0
        return (p, d, q, big_p, seasonal_d, big_q, max(m, 1), constant)

    tried: dict[ArimaSpec, tuple[float, Any]] = {}

    def attempt(spec: ArimaSpec) -> None:
        if spec in tried or len(tried) >= _MAX_FITS:
            return
        n_params = spec[0] + spec[2] + spec[3] + spec[5] + int(spec[7])
        if n_params >= len(z) - 3:
            return
        try:
            result = _fit_arma(z, spec)
            score = float(result.aicc)
        except (ValueError, np.linalg.LinAlgError):
            score, result = float("inf"), None
        tried[spec] = (score if np.isfinite(score) else float("inf"), result)

    # Hyndman–Khandakar's starting models, less the costly (2,2)(1,1) one (0.3-0.5 s on
    # monthly data, and rarely the winner), then neighbourhood sweeps around the best.
    for p, q, big_p, big_q in ((0, 0, 0, 0), (1, 0, 1, 0), (0, 1, 0, 1), (1, 1, 0, 1)):
        attempt(spec_of(p, q, big_p, big_q))
    improved = True
    while improved and len(tried) < _MAX_FITS:
        best = min(tried, key=lambda s: tried[s][0])
        p, _, q, big_p, _, big_q, _, _ = best
        for dp, dq, dbp, dbq in (
            (1, 0, 0, 0),
            (-1, 0, 0, 0),
            (0, 1, 0, 0),
            (0, -1, 0, 0),
            (0, 0, 1, 0),
            (0, 0, -1, 0),
            (0, 0, 0, 1),
            (0, 0, 0, -1),
        ):
            np_, nq, nbp, nbq = p + dp, q + dq, big_p + dbp, big_q + dbq
            if 0 <= np_ <= _MAX_P and 0 <= nq <= _MAX_Q and 0 <= nbp <= 1 and 0 <= nbq <= 1:
                attempt(spec_of(np_, nq, nbp, nbq))
        improved = min(tried, key=lambda s: tried[s][0]) != best
    best = min(tried, key=lambda s: tried[s][0])
    if tried[best][1] is None:
        raise ModelFailed("no ARIMA order could be fitted")
    return best, tried[best][1], z


def fit_arima(
    y: FloatArray, h: int, m: int, levels: Sequence[int], spec_key: tuple[ArimaSpec, FloatArray] | None
) -> ModelFit:
    """Forecast with the AICc-best small SARIMA.

    ``spec_key`` (a previous fit's order and coefficients) skips the search and refits that
    order starting from those coefficients, which converges in a few iterations.
    """
    if len(y) < 8:
        raise ModelFailed("ARIMA needs at least 8 observations")
    if spec_key is None:
        spec, result, _ = _search(y, m)
    else:
        spec, start_params = spec_key
        if len(y) < spec[1] + spec[4] * spec[6] + 6:
            raise ModelFailed("too few observations for this ARIMA specification")
        z = _difference(y, _differencing_polynomial(spec[1], spec[4], spec[6]))
        result = _fit_arma(z, spec, start_params)
    d, seasonal_d, period = spec[1], spec[4], spec[6]
    poly = _differencing_polynomial(d, seasonal_d, period)
    mean = _integrate(y, np.asarray(result.forecast(h), dtype=np.float64), poly)
    intervals = {}
    if levels:
        ar = np.convolve(result.polynomial_reduced_ar, poly)
        psi = arma2ma(ar, result.polynomial_reduced_ma, lags=h)
        sd = np.sqrt(float(result.scale) * np.cumsum(psi**2))
        intervals = normal_intervals(mean, sd, levels)
    return ModelFit("arima", _label(spec), mean, intervals, (spec, np.asarray(result.params)))
