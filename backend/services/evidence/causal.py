"""Causal effect of one treatment on one outcome with DoWhy: graph, identification,
estimation, refutation, overlap and verdict.

Pure computation: a pandas frame in, a :class:`CausalResult` out. CPU-heavy (refuters
re-fit the estimator many times), so the service runs it in a worker process.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
import statsmodels.api as sm

from backend.services.errors import ValidationFailed
from backend.services.evidence.estimation import (
    CausalSettings,
    Edge,
    build_graph,
    build_model,
    check_method,
    fit_estimate,
    graph_columns,
    hac_results,
    quiet,
    summarise,
)
from backend.services.evidence.overlap import check_overlap
from backend.services.evidence.refute import RefutationSettings, decide_verdict, run_refuters, run_sensitivity
from backend.services.evidence.table import independent_columns, validate_design
from backend.services.evidence.types import (
    AnalysisSpec,
    CausalResult,
    EffectEstimate,
    EstimationMethod,
    OverlapDiagnostics,
    RefutationOutcome,
    TargetUnits,
    UnitStudySpec,
)

# The adjustment set must predict the treatment at this level to count as adjusting for something.
UNRELATED_ADJUSTMENT_ALPHA = 0.05

__all__ = ["CausalSettings", "Edge", "analyze_effect", "estimate_effect"]


def _design(
    frame: pd.DataFrame,
    treatment: str,
    outcome: str,
    confounders: Sequence[str],
    method: EstimationMethod,
    target_units: TargetUnits,
    edges: Sequence[Edge] | None,
) -> tuple[nx.DiGraph | None, list[str], pd.DataFrame, bool]:
    """The graph (if edges were given), the adjustment columns, the validated rows, and whether
    the treatment is binary (checked against the method)."""
    graph = build_graph(edges, treatment, outcome) if edges else None
    columns = graph_columns(frame, graph, treatment, outcome) if graph is not None else list(confounders)
    data = validate_design(frame, treatment=treatment, outcome=outcome, confounders=columns)
    return graph, columns, data, check_method(data, treatment, method, target_units)


def estimate_effect(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    confounders: Sequence[str] = (),
    method: EstimationMethod = "linear_regression",
    target_units: TargetUnits = "ate",
    edges: Sequence[Edge] | None = None,
    settings: CausalSettings | None = None,
) -> EffectEstimate:
    """Only the estimate (no refuters, no verdict): cheap enough for screening many levers."""
    settings = settings or CausalSettings()
    graph, columns, data, binary = _design(
        frame, treatment, outcome, confounders, method, target_units, edges
    )
    with quiet(settings.random_seed):
        model, estimand, _ = build_model(data, treatment, outcome, columns, graph)
        fitted = fit_estimate(model, estimand, method, binary, target_units, settings)
        return summarise(fitted, method, target_units, len(data), settings)


def analyze_effect(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    confounders: Sequence[str] = (),
    method: EstimationMethod = "linear_regression",
    target_units: TargetUnits = "ate",
    edges: Sequence[Edge] | None = None,
    randomized: bool = False,
    settings: CausalSettings | None = None,
    extra_refutations: Sequence[RefutationOutcome] = (),
    sensitivity_benchmarks: Sequence[str] | None = None,
    design_caveat: str | None = None,
    substantive_confounders: Sequence[str] | None = None,
) -> CausalResult:
    """Estimate, refute and judge the effect of ``treatment`` on ``outcome``.

    Without ``edges`` the default graph is used: every confounder causes both treatment
    and outcome, and all of them form the adjustment set. With ``edges`` (pairs
    ``(cause, effect)``) DoWhy finds the backdoor set from the graph. ``randomized``
    declares the treatment was assigned at random (an experiment), which is the one
    case where an unadjusted comparison can be supported.

    ``extra_refutations`` (the time-series ones) join the verdict. ``sensitivity_benchmarks``
    limits the observed confounders a hidden one is benchmarked against (default: the whole
    adjustment set); calendar terms and the lever's own lags are no stand-ins for a hidden
    confounder. ``design_caveat`` weakens the verdict (see :func:`decide_verdict`).
    ``substantive_confounders`` are the adjustment columns that count against the "adjusted
    for nothing" guard (default: all); the rest (calendar terms, lever lags) are kept fixed
    when testing whether the substantive ones predict the treatment.
    """
    settings = settings or CausalSettings()
    graph, columns, data, binary = _design(
        frame, treatment, outcome, confounders, method, target_units, edges
    )

    with quiet(settings.random_seed):
        model, estimand, adjustment = build_model(data, treatment, outcome, columns, graph)
        fitted = fit_estimate(model, estimand, method, binary, target_units, settings)
        summary = summarise(fitted, method, target_units, len(data), settings)
        linear = (
            fitted
            if method == "linear_regression"
            else fit_estimate(model, estimand, "linear_regression", binary, target_units, settings)
        )
        others = [
            summarise(
                fit_estimate(model, estimand, other, binary, target_units, settings),
                other,
                target_units,
                len(data),
                settings,
            )
            for other in _other_methods(method, binary, bool(adjustment), settings)
        ]
        refutations = []
        sensitivity = None
        if settings.run_refutations:
            refutations = run_refuters(
                model, estimand, fitted, summary, settings.refutation, 1 - settings.confidence_level
            )
            benchmarks = (
                adjustment
                if sensitivity_benchmarks is None
                else [c for c in adjustment if c in sensitivity_benchmarks]
            )
            robust = hac_results(linear, settings.hac_lags) if settings.hac_lags is not None else None
            outcome_sensitivity, sensitivity = run_sensitivity(
                model, estimand, linear, benchmarks, 1 - settings.confidence_level, robust
            )
            refutations.append(outcome_sensitivity)
        refutations.extend(extra_refutations)
        if settings.strict_verdict and others:
            refutations.append(estimator_agreement(summary, others))
        # Without confounders every unit has the same propensity: overlap is trivially complete.
        overlap = (
            _overlap(data, treatment, outcome, adjustment, method, target_units, settings)
            if binary and adjustment
            else None
        )

    substantive = (
        adjustment
        if substantive_confounders is None
        else [c for c in adjustment if c in substantive_confounders]
    )
    verdict, reasons = decide_verdict(
        summary,
        refutations,
        overlap,
        adjusted_for_nothing=not substantive,
        graph_source="user" if graph is not None else "default",
        randomized=randomized,
        unrelated_adjustment=unrelated_adjustment(data, treatment, substantive, adjustment)
        if settings.strict_verdict
        else None,
        design_caveat=design_caveat,
    )
    return CausalResult(
        treatment=treatment,
        outcome=outcome,
        adjustment_set=adjustment,
        graph_source="user" if graph is not None else "default",
        binary_treatment=binary,
        estimate=summary,
        other_estimates=others,
        naive_difference=_naive(data, treatment, outcome, binary),
        refutations=refutations,
        sensitivity=sensitivity,
        overlap=overlap,
        treatment_range=(float(data[treatment].min()), float(data[treatment].max())),
        verdict=verdict,
        reasons=reasons,
    )


def estimator_agreement(main: EffectEstimate, others: Sequence[EffectEstimate]) -> RefutationOutcome:
    """The other estimators' intervals must overlap the main one: disjoint intervals mean the
    answer depends on the model (linear vs flexible adjustment), not on the data."""
    disjoint = [o for o in others if o.ci_high < main.ci_low or o.ci_low > main.ci_high]
    shown = "; ".join(f"{o.method} {o.value:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}]" for o in others)
    return RefutationOutcome(
        name="estimator_agreement",
        passed=not disjoint,
        new_effect=None,
        p_value=None,
        detail=f"Main {main.method} {main.value:.4g} [{main.ci_low:.4g}, {main.ci_high:.4g}] vs {shown}: "
        + (
            "the intervals overlap."
            if not disjoint
            else f"{', '.join(o.method for o in disjoint)} disagrees beyond the intervals, so the estimate "
            "depends on the model of the adjustment."
        ),
    )


def unrelated_adjustment(
    data: pd.DataFrame, treatment: str, substantive: Sequence[str], adjustment: Sequence[str]
) -> str | None:
    """Why the substantive confounders count as nothing (they do not predict the treatment), or None.

    The guard against raw associations must not be bypassed by adjusting for an arbitrary
    metric: a confounder that is no common cause leaves the estimate the raw association.
    The F-test is partial: the other adjustment columns (calendar, lags) are in both models.
    """
    if not substantive:
        return None
    rest = [c for c in adjustment if c not in substantive]
    full = sm.OLS(data[treatment], sm.add_constant(data[[*rest, *substantive]], has_constant="add")).fit()
    if rest:
        restricted = sm.OLS(data[treatment], sm.add_constant(data[rest], has_constant="add")).fit()
        p_value = float(full.compare_f_test(restricted)[1])
    else:
        p_value = float(full.f_pvalue)
    if p_value < UNRELATED_ADJUSTMENT_ALPHA:
        return None
    return (
        f"The confounders ({', '.join(substantive)}) do not predict {treatment} "
        f"(F-test p = {p_value:.3g}), so nothing that confounds it was adjusted for."
    )


def _other_methods(
    method: EstimationMethod, binary: bool, adjusted: bool, settings: CausalSettings
) -> list[EstimationMethod]:
    # With nothing to adjust for, every method reduces to the raw comparison: no cross-check to add.
    if not settings.compare_methods or not adjusted:
        return []
    candidates: list[EstimationMethod] = ["linear_regression", "propensity_weighting", "double_ml"]
    return [m for m in candidates if m != method and (binary or m != "propensity_weighting")]


def _naive(data: pd.DataFrame, treatment: str, outcome: str, binary: bool) -> float:
    if binary:
        treated = data[treatment] == 1
        return float(data.loc[treated, outcome].mean() - data.loc[~treated, outcome].mean())
    return float(np.polyfit(data[treatment], data[outcome], 1)[0])


def _overlap(
    data: pd.DataFrame,
    treatment: str,
    outcome: str,
    adjustment: list[str],
    method: EstimationMethod,
    target_units: TargetUnits,
    settings: CausalSettings,
) -> OverlapDiagnostics:
    check = check_overlap(
        data,
        treatment=treatment,
        confounders=adjustment,
        target_units=target_units,
        trim_threshold=settings.trim_threshold,
        max_share_outside=settings.max_share_outside,
        min_ess_ratio=settings.min_ess_ratio,
    )
    trimmed_data = data[check.keep].reset_index(drop=True)
    trimmed: EffectEstimate | None = None
    # A confounder that is constant (or a combination of others) on common support no longer
    # confounds there (LaLonde: every remaining unit is black or Hispanic); adjust for the rest.
    varying = independent_columns(trimmed_data, adjustment)
    if not check.adequate:
        try:
            checked = validate_design(trimmed_data, treatment=treatment, outcome=outcome, confounders=varying)
            check_method(checked, treatment, method, target_units)
            model, estimand, _ = build_model(checked, treatment, outcome, varying, None)
            fitted = fit_estimate(model, estimand, method, True, target_units, settings)
            trimmed = summarise(fitted, method, target_units, len(checked), settings)
        except ValidationFailed:
            trimmed = None  # Too little common support left; the verdict says so.
    kept_treated = int((trimmed_data[treatment] == 1).sum())
    return OverlapDiagnostics(
        treated=check.treated,
        control=check.control,
        effective_sample_size_treated=check.ess_treated,
        effective_sample_size_control=check.ess_control,
        trim_bounds=check.bounds,
        kept_treated=kept_treated,
        kept_control=len(trimmed_data) - kept_treated,
        share_outside_bounds=check.share_outside,
        adequate=check.adequate,
        detail=check.detail,
        trimmed_estimate=trimmed,
        trimmed_constant_confounders=[c for c in adjustment if c not in varying],
    )


def causal_settings(spec: AnalysisSpec | UnitStudySpec) -> CausalSettings:
    """The estimator's settings of an analysis or a unit study."""
    return CausalSettings(
        confidence_level=spec.confidence_level,
        refutation=RefutationSettings(num_simulations=spec.refutation_simulations),
        compare_methods=spec.compare_methods,
    )
