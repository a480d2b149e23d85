"""Refutations of a DoWhy estimate and the verdict drawn from them.

Each refuter answers one question about the estimate:

* placebo treatment — replacing the treatment by a random permutation of itself must
  give an effect near zero; if it does not, the pipeline finds effects in noise.
* random common cause — adding an independent random confounder must not move it.
* data subset — re-estimating on random subsets must give about the same value.
* unobserved confounder — Cinelli & Hazlett's linear sensitivity analysis: how far an
  unobserved confounder *as strong as the strongest observed one* (partial R² with
  treatment and outcome) could push the estimate. If it would push it across zero the
  conclusion hinges on having measured every confounder of that strength: *fragile*.

"Moved" is judged against the estimate's own precision: a refuter moves the estimate
when the shift exceeds ``shift_tolerance`` times the half-width of its interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from dowhy import CausalModel
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_identifier import IdentifiedEstimand
from scipy import stats

from backend.services.evidence.types import (
    EffectEstimate,
    OverlapDiagnostics,
    RefutationOutcome,
    SensitivityDetail,
    Verdict,
)


@dataclass(frozen=True)
class RefutationSettings:
    """How hard the refuters try; simulations are the cost driver."""

    num_simulations: int = 20
    subset_fraction: float = 0.8
    # A refuter "moved" the estimate when its value leaves the original interval (1× the half-width).
    shift_tolerance: float = 1.0
    random_seed: int = 0


def _shift_outcome(
    name: Literal["random_common_cause", "data_subset"],
    original: EffectEstimate,
    new_effect: float,
    p_value: float | None,
    tolerance: float,
    what: str,
) -> RefutationOutcome:
    half_width = (original.ci_high - original.ci_low) / 2
    shift = new_effect - original.value
    passed = abs(shift) <= tolerance * half_width
    verb = "kept" if passed else "moved"
    return RefutationOutcome(
        name=name,
        passed=passed,
        new_effect=new_effect,
        p_value=p_value,
        detail=f"{what} {verb} the estimate: {original.value:.4g} → {new_effect:.4g} "
        f"(shift {shift:+.3g}; tolerance ±{tolerance * half_width:.3g}, "
        f"{tolerance:g}× the interval half-width).",
    )


def _p_value(refutation: object) -> float | None:
    result = getattr(refutation, "refutation_result", None)
    return float(result["p_value"]) if isinstance(result, dict) and "p_value" in result else None


def run_refuters(
    model: CausalModel,
    estimand: IdentifiedEstimand,
    estimate: CausalEstimate,
    summary: EffectEstimate,
    settings: RefutationSettings,
    significance_level: float,
) -> list[RefutationOutcome]:
    """Run the placebo, random-common-cause and data-subset refuters on a fitted estimate."""
    common = {"num_simulations": settings.num_simulations, "random_seed": settings.random_seed}
    outcomes: list[RefutationOutcome] = []

    placebo = model.refute_estimate(
        estimand, estimate, method_name="placebo_treatment_refuter", placebo_type="permute", **common
    )
    placebo_effect = float(placebo.new_effect)
    placebo_p = _p_value(placebo)
    # DoWhy's p-value here is the (one-tailed, normal) probability of a zero effect under the placebo
    # draws; a small one means the placebo itself produces effects, i.e. the pipeline finds them in noise.
    placebo_ok = placebo_p is None or placebo_p >= significance_level / 2
    outcomes.append(
        RefutationOutcome(
            name="placebo_treatment",
            passed=placebo_ok,
            new_effect=placebo_effect,
            p_value=placebo_p,
            detail=f"A permuted (placebo) treatment gave an average effect of {placebo_effect:.4g} "
            f"over {settings.num_simulations} draws (estimate {summary.value:.4g}), "
            + (
                "consistent with zero as it should be."
                if placebo_ok
                else "systematically away from zero: the method finds effects in noise."
            ),
        )
    )

    common_cause = model.refute_estimate(estimand, estimate, method_name="random_common_cause", **common)
    outcomes.append(
        _shift_outcome(
            "random_common_cause",
            summary,
            float(common_cause.new_effect),
            _p_value(common_cause),
            settings.shift_tolerance,
            "Adding a random common cause",
        )
    )
    subset = model.refute_estimate(
        estimand,
        estimate,
        method_name="data_subset_refuter",
        subset_fraction=settings.subset_fraction,
        **common,
    )
    outcomes.append(
        _shift_outcome(
            "data_subset",
            summary,
            float(subset.new_effect),
            _p_value(subset),
            settings.shift_tolerance,
            f"Re-estimating on random {settings.subset_fraction:.0%} subsets",
        )
    )
    return outcomes


def robustness_value(t_statistic: float, dof: int, alpha: float | None = None) -> float:
    """Cinelli & Hazlett (2020) robustness value from an OLS t-statistic.

    The partial R² a confounder needs with both treatment and outcome to bring the
    estimate to zero (``alpha=None``) or to make it insignificant at level ``alpha``.
    """
    f_q = abs(t_statistic) / np.sqrt(dof)
    f_critical = abs(stats.t.ppf(alpha / 2, dof - 1)) / np.sqrt(dof - 1) if alpha else 0.0
    f_adj = f_q - f_critical
    if f_adj <= 0:
        return 0.0
    if alpha and f_q > 1 / f_critical:
        return float((f_q**2 - f_critical**2) / (1 + f_q**2))
    return float(0.5 * (np.sqrt(f_adj**4 + 4 * f_adj**2) - f_adj**2))


def _robustness_only(rv: float, rv_alpha: float) -> SensitivityDetail:
    """Robustness values without a benchmarked confounder's adjusted estimate."""
    return SensitivityDetail(
        robustness_value=rv,
        robustness_value_alpha=rv_alpha,
        benchmark=None,
        adjusted_estimate=None,
        adjusted_ci_low=None,
        adjusted_ci_high=None,
    )


def _unbenchmarked(detail: str, rv: float, rv_alpha: float) -> tuple[RefutationOutcome, SensitivityDetail]:
    """The sensitivity result when no confounder benchmark is computed: robustness values only."""
    return (
        RefutationOutcome(
            name="unobserved_confounder", passed=None, new_effect=None, p_value=None, detail=detail
        ),
        _robustness_only(rv, rv_alpha),
    )


def run_sensitivity(
    model: CausalModel,
    estimand: IdentifiedEstimand,
    linear_estimate: CausalEstimate,
    adjustment_set: Sequence[str],
    significance_level: float,
    robust_fit: Any | None = None,
) -> tuple[RefutationOutcome, SensitivityDetail]:
    """Benchmark an unobserved confounder against each observed one; keep the worst case.

    Needs a DoWhy linear-regression estimate (the analysis is defined for linear
    adjustment). With no observed confounder there is nothing to benchmark against,
    so the outcome is "not applicable" (``passed=None``) and the robustness values
    alone are reported. ``robust_fit`` (the same OLS with HAC covariance) supplies the
    t-statistic for time series, whose i.i.d. t overstates precision.
    """
    ols = linear_estimate.estimator.model
    tested = robust_fit if robust_fit is not None else ols
    t_stat, dof = float(np.ravel(tested.tvalues)[1]), int(ols.df_resid)
    rv = robustness_value(t_stat, dof)
    rv_alpha = robustness_value(t_stat, dof, significance_level)
    if float(np.ravel(tested.pvalues)[1]) >= significance_level:
        return _unbenchmarked(
            "Not needed: the linear adjusted estimate is already indistinguishable from zero.", rv, rv_alpha
        )
    if not adjustment_set:
        return _unbenchmarked(
            "No observed confounder to benchmark a hidden one against. A hidden confounder "
            f"explaining {rv:.1%} of the residual variance of both treatment and outcome would "
            "remove the effect.",
            rv,
            rv_alpha,
        )

    worst: SensitivityDetail | None = None
    unbounded: list[str] = []
    for benchmark in adjustment_set:
        try:
            analyzer = model.refute_estimate(
                estimand,
                linear_estimate,
                method_name="add_unobserved_common_cause",
                simulation_method="linear-partial-R2",
                benchmark_common_causes=[benchmark],
                # DoWhy only broadcasts list-valued strengths; 1× = "as strong as the benchmark". Its
                # linear analyzer always assumes the hidden confounder inflated the estimate and
                # shrinks it toward zero: the worst case for the conclusion.
                effect_fraction_on_treatment=list(BENCHMARK_STRENGTHS),
                effect_fraction_on_outcome=list(BENCHMARK_STRENGTHS),
                significance_level=significance_level,
                plot_estimate=False,
            )
        except ValueError:
            # DoWhy refuses when the benchmark explains half or more of the treatment: a hidden
            # confounder that strong has no bound at all.
            unbounded.append(benchmark)
            continue
        strength, row = _feasible_row(analyzer.benchmarking_results)
        detail = SensitivityDetail(
            robustness_value=rv,
            robustness_value_alpha=rv_alpha,
            benchmark=benchmark,
            adjusted_estimate=float(row["bias_adjusted_estimate"]),
            adjusted_ci_low=float(row["bias_adjusted_lower_CI"]),
            adjusted_ci_high=float(row["bias_adjusted_upper_CI"]),
            strength=strength,
        )
        if worst is None or abs(detail.adjusted_estimate or 0.0) < abs(worst.adjusted_estimate or 0.0):
            worst = detail

    if unbounded or worst is None:
        return (
            RefutationOutcome(
                name="unobserved_confounder",
                passed=False,
                new_effect=None,
                p_value=None,
                detail=f"{', '.join(unbounded)} explains so much of the treatment that a hidden confounder "
                f"as strong could produce any estimate. Robustness value {rv:.1%}.",
            ),
            worst or _robustness_only(rv, rv_alpha),
        )
    assert worst.adjusted_ci_low is not None and worst.adjusted_ci_high is not None
    positive = float(np.ravel(linear_estimate.value)[0]) >= 0
    survives = worst.adjusted_ci_low > 0 if positive else worst.adjusted_ci_high < 0
    return (
        RefutationOutcome(
            name="unobserved_confounder",
            passed=survives,
            new_effect=worst.adjusted_estimate,
            p_value=None,
            detail=f"A hidden confounder {_strength_text(worst.strength)} '{worst.benchmark}' would move the "
            "linear adjusted "
            f"estimate to {worst.adjusted_estimate:.4g} "
            f"[{worst.adjusted_ci_low:.4g}, {worst.adjusted_ci_high:.4g}]"
            + ("; the effect survives." if survives else "; that would explain the effect away.")
            + f" Robustness value {rv:.1%}.",
        ),
        worst,
    )


# Strengths (× the benchmark's partial R²) tried in order; the first feasible one is reported.
BENCHMARK_STRENGTHS = (1.0, 0.5, 0.25)


def _feasible_row(results: Any) -> tuple[float, Any]:
    """The strongest benchmark row whose bound is a real confounder.

    A confounder as strong as a strong observed one can imply it explains more than all the
    outcome's remaining variance; DoWhy (like sensemakr) then caps that at 100% and reports a
    degenerate interval (low == high) — no such confounder exists. Cinelli & Hazlett's advice
    is a smaller multiple of the benchmark, so the next strength is used.
    """
    for position, strength in enumerate(BENCHMARK_STRENGTHS):
        row = results.iloc[position]
        if float(row["bias_adjusted_lower_CI"]) < float(row["bias_adjusted_upper_CI"]):
            return strength, row
    return BENCHMARK_STRENGTHS[-1], results.iloc[len(BENCHMARK_STRENGTHS) - 1]


def _strength_text(strength: float) -> str:
    if strength == 1.0:
        return "as strong as"
    return (
        f"{strength:g}× as strong as (1× would have to explain more than all the remaining variation of "
        "the outcome, which no confounder can)"
    )


def decide_verdict(
    estimate: EffectEstimate,
    refutations: Sequence[RefutationOutcome],
    overlap: OverlapDiagnostics | None,
    *,
    adjusted_for_nothing: bool,
    graph_source: str,
    randomized: bool,
    unrelated_adjustment: str | None = None,
    design_caveat: str | None = None,
) -> tuple[Verdict, list[str]]:
    """Combine interval, refuters, overlap and design into a verdict with reasons in words.

    *not_supported*: the interval includes zero, the placebo finds an effect, overlap is
    poor and the trimmed estimate does not hold up, or an observational estimate adjusts
    for nothing. *fragile*: a refuter moved the estimate, the sensitivity analysis can
    explain it away, or overlap is poor but the trimmed estimate holds. Otherwise *supported*.

    Time-series refutations: a failed placebo in time or negative control blocks; unstable
    rolling windows or estimators that disagree beyond their intervals weaken. An adjustment
    set that does not predict the treatment at all (``unrelated_adjustment`` says why) counts
    as adjusting for nothing. ``design_caveat`` (a time series analysed without the
    time-series design) weakens.
    """
    blocking: list[str] = []
    weakening: list[str] = []
    level = f"{estimate.confidence_level:.0%}"
    if estimate.ci_low <= 0 <= estimate.ci_high:
        blocking.append(
            f"The {level} interval [{estimate.ci_low:.4g}, {estimate.ci_high:.4g}] includes zero: "
            "no effect can be told apart from noise."
        )
    by_name = {r.name: r for r in refutations}
    for name in ("placebo_treatment", "placebo_in_time", "negative_control"):
        failed = [r for r in refutations if r.name == name and r.passed is False]
        blocking.extend(r.detail for r in failed)
    if adjusted_for_nothing and not randomized and graph_source == "default":
        blocking.append(
            "Nothing was adjusted for and the treatment is not declared randomised: the number is a raw "
            "association, not evidence of cause."
        )
    elif unrelated_adjustment is not None and not randomized and graph_source == "default":
        blocking.append(
            f"{unrelated_adjustment} Adjusting for variables unrelated to the treatment changes nothing: "
            "the number is a raw association, not evidence of cause."
        )
    if design_caveat is not None:
        weakening.append(design_caveat)
    if overlap is not None and not overlap.adequate:
        trimmed = overlap.trimmed_estimate
        if trimmed is None:
            blocking.append(
                f"Treated and control units barely overlap ({overlap.detail}) and no estimate could be "
                "made on the common-support sample that trimming leaves."
            )
        elif trimmed.ci_low <= 0 <= trimmed.ci_high or (trimmed.value > 0) != (estimate.value > 0):
            blocking.append(
                f"Treated and control units barely overlap ({overlap.detail}) The full-sample estimate "
                f"extrapolates; on the {overlap.kept_treated + overlap.kept_control} units of common support "
                f"it is {trimmed.value:.4g} [{trimmed.ci_low:.4g}, {trimmed.ci_high:.4g}], which does not "
                "confirm it."
            )
        else:
            weakening.append(
                f"Treated and control units barely overlap ({overlap.detail}) Only the trimmed estimate "
                f"{trimmed.value:.4g} [{trimmed.ci_low:.4g}, {trimmed.ci_high:.4g}] rests on common support, "
                "and it describes the overlap population only."
            )
    weakeners = ("random_common_cause", "data_subset", "unobserved_confounder", "rolling_windows")
    weakening.extend(
        r.detail for r in refutations if r.name in (*weakeners, "estimator_agreement") and r.passed is False
    )
    if blocking:
        return "not_supported", blocking + weakening
    if weakening:
        return "fragile", weakening
    reasons = [
        f"The {level} interval [{estimate.ci_low:.4g}, {estimate.ci_high:.4g}] excludes zero and every "
        "refuter left the estimate in place."
    ]
    if randomized:
        reasons.append("The treatment was declared randomised.")
    elif adjusted_for_nothing:
        reasons.append("The given graph has no backdoor path; the conclusion rests on that graph.")
    sensitivity = by_name.get("unobserved_confounder")
    if sensitivity is not None and sensitivity.passed is None:
        reasons.append(sensitivity.detail)
    return "supported", reasons
