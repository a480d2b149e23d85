"""Refutations that catch spurious time-series correlation, and distributed-lag effects.

Every fit here is an OLS of the (designed) outcome on the lever and the adjustment columns
with Newey–West (HAC) standard errors, so the checks share the estimate's inference:

* **placebo in time** — the lever's *next* value is added; it cannot cause today's outcome,
  so a clearly non-zero coefficient means lever and outcome share a path the design did not
  remove (a common trend or drift, or the lever reacting to the outcome). Blocks the verdict.
* **rolling windows** — the effect is re-estimated on consecutive blocks of the history; a
  causal effect of a stable mechanism keeps its sign and its size (Cochran's Q test).
* **negative-control outcomes** — metrics the lever cannot move; an "effect" on one means
  the design finds effects where there are none. Blocks the verdict.
* **lag effects** — with lags of the lever, the same-bucket effect and the long-run effect of a
  sustained change (the sum of the lag coefficients), each with its HAC interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.regression.linear_model import RegressionResultsWrapper

from backend.services.evidence.types import (
    EffectEstimate,
    LagCoefficient,
    LagEffects,
    RefutationOutcome,
)

ALPHA = 0.05
# Only gross instability fails the rolling windows: HAC errors on short blocks are optimistic.
HETEROGENEITY_ALPHA = 0.005
ROLLING_WINDOWS = 4
# A window needs this many rows per coefficient for its estimate to mean something.
ROWS_PER_COEFFICIENT_IN_WINDOW = 5
LEAD_SUFFIX = "_lead1"


def hac_fit(
    frame: pd.DataFrame, outcome: str, regressors: Sequence[str], hac_lags: int | None
) -> RegressionResultsWrapper:
    """OLS with an intercept; HAC (Newey–West) covariance unless ``hac_lags`` is None."""
    design = sm.add_constant(frame[list(regressors)].to_numpy(dtype="float64"), has_constant="add")
    model = sm.OLS(frame[outcome].to_numpy(dtype="float64"), design)
    if hac_lags is None:
        return model.fit()
    return model.fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags})


def _coefficient(
    fit: RegressionResultsWrapper, position: int, level: float
) -> tuple[float, float, float, float, float]:
    """Value, interval, standard error and p-value of the regressor at ``position`` (after the intercept)."""
    index = position + 1
    low, high = np.asarray(fit.conf_int(alpha=1 - level))[index]
    return (
        float(fit.params[index]),
        float(low),
        float(high),
        float(fit.bse[index]),
        float(fit.pvalues[index]),
    )


def lead_column(treatment: str) -> str:
    return f"{treatment}{LEAD_SUFFIX}"


def placebo_in_time(
    frame: pd.DataFrame,
    lead: pd.Series,
    *,
    treatment: str,
    outcome: str,
    controls: Sequence[str],
    hac_lags: int | None,
) -> RefutationOutcome:
    """Regress today's outcome on the lever, its next value and the controls; the lead must be ~0."""
    data = frame.assign(**{lead.name: lead}).dropna()
    if len(data) < ROWS_PER_COEFFICIENT_IN_WINDOW * (len(controls) + 3):
        return _not_applicable("placebo_in_time", "Too few rows to test the lever's future value.")
    fit = hac_fit(data, outcome, [treatment, str(lead.name), *controls], hac_lags)
    value, low, high, _, p_value = _coefficient(fit, 1, 1 - ALPHA)
    passed = p_value >= ALPHA
    return RefutationOutcome(
        name="placebo_in_time",
        passed=passed,
        new_effect=value,
        p_value=p_value,
        detail=f"Tomorrow's {treatment} 'explains' today's {outcome} by {value:.4g} [{low:.4g}, {high:.4g}] "
        f"(p = {p_value:.3g}); "
        + (
            "consistent with zero, as a future value must be."
            if passed
            else "a future lever cannot cause today's outcome, so lever and outcome share a trend, a "
            "drift or a feedback the design did not remove."
        ),
    )


def rolling_windows(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    controls: Sequence[str],
    hac_lags: int | None,
    windows: int = ROLLING_WINDOWS,
) -> RefutationOutcome:
    """Re-estimate on ``windows`` consecutive blocks; the effect must keep its sign and size."""
    full = float(hac_fit(frame, outcome, [treatment, *controls], hac_lags).params[1])
    size = len(frame) // windows
    needed = ROWS_PER_COEFFICIENT_IN_WINDOW * (len(controls) + 2)
    if size < needed:
        return _not_applicable(
            "rolling_windows", f"Blocks of {size} rows are too short to re-estimate ({needed} needed)."
        )
    values, errors = [], []
    for block in range(windows):
        part = frame.iloc[block * size : (block + 1) * size if block < windows - 1 else len(frame)]
        # Calendar columns that are constant inside a block (no holiday in it) add nothing there.
        varying = [c for c in controls if part[c].nunique() > 1]
        fit = hac_fit(part, outcome, [treatment, *varying], hac_lags)
        value, _, _, error, _ = _coefficient(fit, 0, 1 - ALPHA)
        values.append(value)
        errors.append(error)
    weights = 1 / np.maximum(np.square(errors), 1e-300)
    pooled = float(np.sum(weights * np.asarray(values)) / np.sum(weights))
    q_stat = float(np.sum(weights * (np.asarray(values) - pooled) ** 2))
    q_p = float(stats.chi2.sf(q_stat, windows - 1))
    opposite = sum(1 for v in values if np.sign(v) != np.sign(full))
    passed = q_p >= HETEROGENEITY_ALPHA and opposite <= 1
    shown = ", ".join(f"{v:.3g}" for v in values)
    return RefutationOutcome(
        name="rolling_windows",
        passed=passed,
        new_effect=pooled,
        p_value=q_p,
        detail=f"Re-estimated on {windows} consecutive blocks of the history: {shown} "
        f"(heterogeneity p = {q_p:.3g}; {opposite} with the opposite sign). "
        + (
            "The effect is stable over time."
            if passed
            else "The effect changes over time: it is not one stable mechanism, or it is a coincidence "
            "of some periods."
        ),
    )


def negative_control(
    frame: pd.DataFrame,
    *,
    control_outcome: str,
    treatment: str,
    controls: Sequence[str],
    hac_lags: int | None,
) -> RefutationOutcome:
    """The lever's 'effect' on an outcome it cannot move must be indistinguishable from zero."""
    fit = hac_fit(frame, control_outcome, [treatment, *controls], hac_lags)
    value, low, high, _, p_value = _coefficient(fit, 0, 1 - ALPHA)
    passed = p_value >= ALPHA
    return RefutationOutcome(
        name="negative_control",
        passed=passed,
        new_effect=value,
        p_value=p_value,
        detail=f"Negative control '{control_outcome}' (declared unaffected by {treatment}): "
        f"{value:.4g} [{low:.4g}, {high:.4g}], p = {p_value:.3g}; "
        + (
            "no effect, as it should be."
            if passed
            else "the design finds an effect where there is none, so it leaves confounding in place."
        ),
    )


def _not_applicable(name: Literal["placebo_in_time", "rolling_windows"], detail: str) -> RefutationOutcome:
    return RefutationOutcome(name=name, passed=None, new_effect=None, p_value=None, detail=detail)


def lag_effects(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    lags: Sequence[tuple[int, str]],
    controls: Sequence[str],
    hac_lags: int | None,
    level: float,
    method_n: int,
) -> LagEffects:
    """Same-bucket and cumulative (sum of the lag coefficients) effects with their intervals.

    ``lags`` pairs each lag with its column; ``controls`` are the other adjustment columns.
    The cumulative effect is the long-run change of the outcome per bucket when the lever
    is raised by one unit in every bucket; its variance is ``1' V 1`` over the lag block.
    """
    columns = [treatment, *(column for _, column in lags)]
    fit = hac_fit(frame, outcome, [*columns, *controls], hac_lags)
    z = (
        float(stats.t.ppf(0.5 + level / 2, fit.df_resid))
        if hac_lags is None
        else float(stats.norm.ppf(0.5 + level / 2))
    )
    params = np.asarray(fit.params)[1 : len(columns) + 1]
    covariance = np.asarray(fit.cov_params())[1 : len(columns) + 1, 1 : len(columns) + 1]
    interval = "HAC (Newey–West)" if hac_lags is not None else "analytic (OLS)"

    def estimate(weights: np.ndarray) -> EffectEstimate:
        value = float(weights @ params)
        error = float(np.sqrt(max(weights @ covariance @ weights, 0.0)))
        p_value = float(2 * stats.norm.sf(abs(value) / error)) if error > 0 else 0.0
        return EffectEstimate(
            method="linear_regression",
            target_units="ate",
            value=value,
            ci_low=value - z * error,
            ci_high=value + z * error,
            confidence_level=level,
            p_value=p_value,
            standard_error=error,
            n=method_n,
            interval_method=interval,
        )

    by_lag = []
    for position, lag in enumerate([0, *(lag for lag, _ in lags)]):
        unit = np.zeros(len(columns))
        unit[position] = 1.0
        single = estimate(unit)
        by_lag.append(
            LagCoefficient(lag=lag, value=single.value, ci_low=single.ci_low, ci_high=single.ci_high)
        )
    immediate = np.zeros(len(columns))
    immediate[0] = 1.0
    return LagEffects(
        immediate=estimate(immediate), cumulative=estimate(np.ones(len(columns))), by_lag=by_lag
    )
