"""Time-series evidence: Granger causality and multiple-testing-corrected correlation screening.

Neither is causal identification. Granger says whether the *past* of one series helps
predict another beyond that series' own past; screening says which candidates are
associated with an outcome at all, after Benjamini-Hochberg control of the false
discovery rate. Both results carry that caveat in their ``note``.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import InfeasibleTestError
from statsmodels.tsa.stattools import adfuller, grangercausalitytests

from backend.services.errors import ValidationFailed
from backend.services.evidence.types import (
    GrangerLagTest,
    GrangerResult,
    ScreenedCandidate,
    ScreeningResult,
)

# Fewer than this many observations per lag-model coefficient and the F-tests mean little.
MIN_OBSERVATIONS_PER_COEFFICIENT = 5
MIN_SCREENING_OBSERVATIONS = 10


def _stationarity_p_value(values: np.ndarray) -> float:
    return float(adfuller(values, autolag="AIC")[1])


def granger_causality(
    frame: pd.DataFrame,
    *,
    cause: str,
    effect: str,
    max_lag: int,
    alpha: float = 0.05,
    difference: bool | None = None,
) -> GrangerResult:
    """Test whether past values of ``cause`` improve the prediction of ``effect``, lag by lag.

    For each lag L in 1..max_lag the restricted model (``effect`` on its own L lags) is
    compared with the unrestricted one (plus L lags of ``cause``) by an F-test. The
    chosen lag is the one with the lowest BIC of the unrestricted model — picked by fit,
    not by the smallest p-value, which would be a search for significance. The tests
    assume stationary series: with ``difference=None`` both are first-differenced when
    an augmented Dickey-Fuller test cannot reject a unit root in either.
    """
    for column in (cause, effect):
        if column not in frame.columns:
            raise ValidationFailed("Unknown column.", context={"column": column})
    if max_lag < 1:
        raise ValidationFailed("max_lag must be at least 1.", context={"max_lag": max_lag})
    data = frame[[effect, cause]].astype("float64").dropna()
    needed = MIN_OBSERVATIONS_PER_COEFFICIENT * (2 * max_lag + 1) + max_lag
    if len(data) < needed:
        raise ValidationFailed(
            "Too few aligned observations for Granger tests at this many lags.",
            context={"observations": len(data), "required": needed, "max_lag": max_lag},
        )
    for column in (cause, effect):
        if data[column].nunique() < 2:
            raise ValidationFailed(
                "A constant series cannot Granger-cause or be caused.", context={"column": column}
            )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' ADF/verbose deprecation chatter
        p_stationary = {c: _stationarity_p_value(data[c].to_numpy()) for c in (effect, cause)}
        if difference is None:
            difference = any(p > alpha for p in p_stationary.values())
        series = data.diff().dropna() if difference else data
        try:
            raw = grangercausalitytests(series.to_numpy(), maxlag=max_lag)
        except InfeasibleTestError as exc:
            raise ValidationFailed(
                "The series are collinear at these lags; no Granger test is possible.",
                context={"max_lag": max_lag},
            ) from exc

    lags: list[GrangerLagTest] = []
    for lag in range(1, max_lag + 1):
        tests, (_, unrestricted, _) = raw[lag]
        f_stat, p_value = tests["ssr_ftest"][0], tests["ssr_ftest"][1]
        lags.append(
            GrangerLagTest(
                lag=lag,
                f_statistic=float(f_stat),
                p_value=float(p_value),
                aic=float(unrestricted.aic),
                bic=float(unrestricted.bic),
            )
        )
    # Information criteria are only comparable on the same rows: re-score on the common sample.
    chosen = min(lags, key=lambda t: _bic_on_common_rows(series.to_numpy(), t.lag, max_lag))
    significant = chosen.p_value < alpha
    return GrangerResult(
        cause=cause,
        effect=effect,
        n=len(series),
        differenced=difference,
        stationarity_p_values=p_stationary,
        lags=lags,
        chosen_lag=chosen.lag,
        chosen_p_value=chosen.p_value,
        significant=significant,
        alpha=alpha,
        note="Granger causality is predictive precedence, not proof of cause: a common driver of both "
        "series, or a lever set in anticipation of the outcome, produces the same pattern.",
    )


def _bic_on_common_rows(values: np.ndarray, lag: int, max_lag: int) -> float:
    """BIC of the unrestricted lag model fitted on rows max_lag.. so every lag competes on equal data."""
    rows = len(values) - max_lag
    columns = [np.ones(rows)]
    for k in range(1, lag + 1):
        columns.append(values[max_lag - k : len(values) - k, 0])
        columns.append(values[max_lag - k : len(values) - k, 1])
    design = np.column_stack(columns)
    target = values[max_lag:, 0]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    rss = float(np.sum((target - design @ coef) ** 2))
    return float(rows * np.log(rss / rows) + design.shape[1] * np.log(rows))


def screen_drivers(
    frame: pd.DataFrame,
    *,
    outcome: str,
    candidates: list[str] | None = None,
    method: Literal["pearson", "spearman"] = "spearman",
    false_discovery_rate: float = 0.1,
    difference: bool = False,
) -> ScreeningResult:
    """Correlate each candidate with the outcome and control the false discovery rate (BH).

    ``candidates`` defaults to every other column. With ``difference=True`` both sides are
    first-differenced, which removes shared trends that make unrelated KPIs correlate.
    Rows missing a candidate are dropped pairwise, so each candidate reports its own n.
    """
    if outcome not in frame.columns:
        raise ValidationFailed("Unknown outcome column.", context={"outcome": outcome})
    if method not in ("pearson", "spearman"):
        raise ValidationFailed(
            "Screening method must be 'pearson' or 'spearman'.", context={"method": method}
        )
    names = [c for c in (candidates if candidates is not None else frame.columns) if c != outcome]
    unknown = [c for c in names if c not in frame.columns]
    if unknown or not names:
        raise ValidationFailed(
            "Candidates must be known columns other than the outcome.", context={"unknown": unknown}
        )
    data = frame[[outcome, *names]].astype("float64")
    if difference:
        data = data.diff().iloc[1:]

    rows: list[tuple[str, int, float, float]] = []
    for name in names:
        pair = data[[outcome, name]].dropna()
        if len(pair) < MIN_SCREENING_OBSERVATIONS or pair[name].nunique() < 2 or pair[outcome].nunique() < 2:
            raise ValidationFailed(
                "Too few varying observations to screen a candidate.",
                context={
                    "candidate": name,
                    "observations": len(pair),
                    "required": MIN_SCREENING_OBSERVATIONS,
                },
            )
        test = stats.spearmanr if method == "spearman" else stats.pearsonr
        result = test(pair[outcome], pair[name])
        rows.append((name, len(pair), float(result.statistic), float(result.pvalue)))

    rejected, q_values, _, _ = multipletests(
        [r[3] for r in rows], alpha=false_discovery_rate, method="fdr_bh"
    )
    screened = [
        ScreenedCandidate(name=n, n=k, correlation=r, p_value=p, q_value=float(q), discovered=bool(hit))
        for (n, k, r, p), q, hit in zip(rows, q_values, rejected, strict=True)
    ]
    screened.sort(key=lambda c: (c.q_value, -abs(c.correlation)))
    return ScreeningResult(
        outcome=outcome,
        method=method,
        differenced=difference,
        false_discovery_rate=false_discovery_rate,
        candidates=screened,
        note="Screening, not causation: a discovery is an association that survives multiple-testing "
        "correction. Autocorrelated series overstate significance; difference them or confirm a "
        "discovery with a causal analysis before acting on it.",
    )
