"""Known-effect recovery, refuter behaviour, verdicts and error cases of the causal engine.

Simulation counts are deliberately small (DoWhy refuters re-fit the estimator on every
draw); the designs are strong enough that the conclusions do not hinge on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from backend.services.errors import ValidationFailed
from backend.services.evidence import CausalSettings, RefutationSettings, analyze_effect, estimate_effect
from backend.services.evidence.types import CausalResult
from tests.services.evidence.synthetic import confounded_binary, confounded_continuous, naive_bias

FAST = CausalSettings(
    refutation=RefutationSettings(num_simulations=8),
    bootstrap_simulations=60,
    compare_methods=False,
    dml_trees=40,
)
TRUE_EFFECT = 2.0
A, B = (0.6, 0.6), (1.0, 1.0)


def _naive_interval(frame, treatment: str, outcome: str) -> tuple[float, float]:
    fit = sm.OLS(frame[outcome], sm.add_constant(frame[[treatment]])).fit()
    low, high = fit.conf_int().loc[treatment]
    return float(low), float(high)


def test_adjusted_interval_covers_true_effect_and_naive_one_does_not() -> None:
    frame = confounded_continuous(n=600, effect=TRUE_EFFECT, a=A, b=B, seed=11)
    result = analyze_effect(frame, treatment="t", outcome="y", confounders=["w1", "w2"], settings=FAST)

    assert result.estimate.ci_low <= TRUE_EFFECT <= result.estimate.ci_high
    naive_low, naive_high = _naive_interval(frame, "t", "y")
    assert not naive_low <= TRUE_EFFECT <= naive_high
    assert result.naive_difference == pytest.approx(TRUE_EFFECT + naive_bias(A, B), abs=0.15)
    assert result.adjustment_set == ["w1", "w2"]
    assert result.verdict == "supported", result.reasons
    assert all(r.passed for r in result.refutations)


def test_placebo_treatment_gives_an_effect_near_zero() -> None:
    frame = confounded_continuous(n=600, effect=TRUE_EFFECT, a=A, b=B, seed=12)
    result = analyze_effect(frame, treatment="t", outcome="y", confounders=["w1", "w2"], settings=FAST)
    placebo = next(r for r in result.refutations if r.name == "placebo_treatment")
    assert placebo.passed
    assert placebo.new_effect is not None
    assert abs(placebo.new_effect) < 0.1 * TRUE_EFFECT


def test_double_ml_interval_covers_true_effect() -> None:
    frame = confounded_continuous(n=600, effect=TRUE_EFFECT, a=A, b=B, seed=13)
    estimate = estimate_effect(
        frame, treatment="t", outcome="y", confounders=["w1", "w2"], method="double_ml", settings=FAST
    )
    assert estimate.interval_method == "double-ML final-stage inference"
    assert estimate.ci_low <= TRUE_EFFECT <= estimate.ci_high


def test_left_out_confounder_makes_the_verdict_fragile() -> None:
    """A spurious effect from an omitted confounder is flagged by the sensitivity analysis.

    The true effect is zero. w1 and w2 both drive t and y; the analysis is given only w1.
    The estimate is then biased away from zero with a tight interval, so interval-based
    checks (and the placebo, subset and random-cause refuters, which only probe
    stability) pass. What catches it is the Cinelli-Hazlett benchmark: w2 is built
    *weaker* than w1, so "a hidden confounder as strong as w1" — the bound the engine
    computes — is enough to explain the estimate away, and the verdict cannot be
    *supported*. Given both confounders, the same data show no effect.
    """
    frame = confounded_continuous(n=500, effect=0.0, a=(0.8, 0.5), b=(1.2, 0.8), seed=14)
    omitted = analyze_effect(frame, treatment="t", outcome="y", confounders=["w1"], settings=FAST)

    assert omitted.estimate.ci_low > 0  # the bias is real and "significant"
    assert omitted.verdict in ("fragile", "not_supported")
    sensitivity = next(r for r in omitted.refutations if r.name == "unobserved_confounder")
    assert sensitivity.passed is False
    assert omitted.sensitivity is not None and omitted.sensitivity.benchmark == "w1"
    assert any("w1" in reason for reason in omitted.reasons)

    complete = analyze_effect(frame, treatment="t", outcome="y", confounders=["w1", "w2"], settings=FAST)
    assert complete.estimate.ci_low <= 0.0 <= complete.estimate.ci_high
    assert complete.verdict == "not_supported"


def test_unadjusted_observational_estimate_is_not_supported_unless_randomised() -> None:
    rng = np.random.default_rng(15)
    frame = confounded_binary(n=400, effect=1.0, strength=0.0, seed=15).assign(noise=rng.normal(size=400))
    observational = analyze_effect(frame, treatment="t", outcome="y", settings=FAST)
    assert observational.adjustment_set == []
    assert observational.verdict == "not_supported"
    assert any("raw association" in reason for reason in observational.reasons)

    experiment = analyze_effect(frame, treatment="t", outcome="y", randomized=True, settings=FAST)
    assert experiment.estimate.ci_low <= 1.0 <= experiment.estimate.ci_high
    assert experiment.verdict == "supported", experiment.reasons


def _propensity_weighted(frame: pd.DataFrame) -> CausalResult:
    """Inverse propensity weighting of ``t`` on ``y``, adjusting for ``w1`` and ``w2``."""
    return analyze_effect(
        frame,
        treatment="t",
        outcome="y",
        confounders=["w1", "w2"],
        method="propensity_weighting",
        settings=FAST,
    )


def test_propensity_weighting_recovers_effect_with_good_overlap() -> None:
    result = _propensity_weighted(confounded_binary(n=800, effect=1.5, strength=0.5, seed=16))
    assert result.estimate.interval_method.startswith("bootstrap")
    assert result.estimate.ci_low <= 1.5 <= result.estimate.ci_high
    assert result.naive_difference > result.estimate.ci_high  # confounding inflates the raw difference
    assert result.overlap is not None and result.overlap.adequate
    assert result.overlap.trimmed_estimate is None


def test_poor_overlap_is_diagnosed_trimmed_and_never_supported() -> None:
    frame = confounded_binary(n=800, effect=1.5, strength=3.0, seed=17)
    result = _propensity_weighted(frame)
    overlap = result.overlap
    assert overlap is not None and not overlap.adequate
    assert overlap.share_outside_bounds > 0.1
    assert overlap.effective_sample_size_treated < overlap.treated.n
    assert overlap.kept_treated + overlap.kept_control < len(frame)
    assert overlap.trimmed_estimate is not None and overlap.trimmed_estimate.n < len(frame)
    assert result.verdict != "supported"
    assert any("overlap" in reason for reason in result.reasons)


def test_user_graph_with_a_mediator_estimates_the_total_effect() -> None:
    """t -> m -> y plus t -> y, confounded by w: the backdoor set is {w}, never the mediator."""
    rng = np.random.default_rng(18)
    n = 500
    w = rng.normal(size=n)
    t = 0.7 * w + rng.normal(size=n)
    m = 1.0 * t + rng.normal(size=n)
    y = 1.0 * t + 1.0 * m + 1.0 * w + rng.normal(size=n)
    frame = pd.DataFrame({"t": t, "m": m, "w": w, "y": y})
    edges = [("w", "t"), ("w", "y"), ("t", "m"), ("m", "y"), ("t", "y")]

    result = analyze_effect(frame, treatment="t", outcome="y", edges=edges, settings=FAST)
    assert result.graph_source == "user"
    assert result.adjustment_set == ["w"]
    assert result.estimate.ci_low <= 2.0 <= result.estimate.ci_high

    # Treating the mediator as a confounder (the default graph) estimates only the direct effect.
    direct = estimate_effect(frame, treatment="t", outcome="y", confounders=["w", "m"], settings=FAST)
    assert direct.ci_low <= 1.0 <= direct.ci_high


def test_estimation_error_cases_are_validation_errors() -> None:
    frame = confounded_continuous(n=200, effect=1.0, a=A, b=B, seed=19)
    with pytest.raises(ValidationFailed, match="binary"):
        estimate_effect(frame, treatment="t", outcome="y", confounders=["w1"], method="propensity_weighting")
    with pytest.raises(ValidationFailed, match="binary"):
        estimate_effect(frame, treatment="t", outcome="y", confounders=["w1"], target_units="att")
    with pytest.raises(ValidationFailed, match="cycle"):
        analyze_effect(frame, treatment="t", outcome="y", edges=[("t", "y"), ("y", "w1"), ("w1", "t")])
    with pytest.raises(ValidationFailed, match="no directed path"):
        analyze_effect(frame, treatment="t", outcome="y", edges=[("y", "t"), ("w1", "t")])
    with pytest.raises(ValidationFailed, match="never changes"):
        analyze_effect(frame.assign(t=1.0), treatment="t", outcome="y", confounders=["w1"])
    with pytest.raises(ValidationFailed, match="collinear"):
        analyze_effect(frame.assign(w3=frame["w1"] * 2), treatment="t", outcome="y", confounders=["w1", "w3"])
    with pytest.raises(ValidationFailed, match="Too few"):
        analyze_effect(frame.head(15), treatment="t", outcome="y", confounders=["w1"])
