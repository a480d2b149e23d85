"""What-if predictions derived from an estimated effect."""

from __future__ import annotations

import pytest

from backend.services.errors import ValidationFailed
from backend.services.evidence import CausalSettings, RefutationSettings, analyze_effect, predict_what_if
from backend.services.evidence.types import CausalResult
from tests.services.evidence.synthetic import confounded_binary, confounded_continuous

FAST = CausalSettings(refutation=RefutationSettings(num_simulations=5), compare_methods=False)


@pytest.fixture(scope="module")
def continuous_result() -> CausalResult:
    frame = confounded_continuous(n=400, effect=2.0, a=(0.6, 0.6), b=(1.0, 1.0), seed=21)
    return analyze_effect(frame, treatment="t", outcome="y", confounders=["w1", "w2"], settings=FAST)


def test_prediction_scales_effect_and_interval(continuous_result: CausalResult) -> None:
    estimate = continuous_result.estimate
    up = predict_what_if(continuous_result, treatment_change=1.5, baseline_outcome=100.0)
    assert up.predicted_change == pytest.approx(1.5 * estimate.value)
    assert (up.ci_low, up.ci_high) == pytest.approx((1.5 * estimate.ci_low, 1.5 * estimate.ci_high))
    assert up.predicted_outcome == pytest.approx(100.0 + up.predicted_change)
    assert up.predicted_outcome_low is not None and up.predicted_outcome_low < up.predicted_outcome
    assert not up.extrapolation

    down = predict_what_if(continuous_result, treatment_change=-1.0)
    assert down.ci_low < down.predicted_change < down.ci_high < 0
    assert down.predicted_outcome is None


def test_prediction_flags_extrapolation_beyond_observed_treatment(continuous_result: CausalResult) -> None:
    _, high = continuous_result.treatment_range
    result = predict_what_if(continuous_result, treatment_change=1.0, baseline_treatment=high)
    assert result.extrapolation
    assert any("outside the observed range" in c for c in result.caveats)


def test_binary_treatment_only_switches_on_or_off() -> None:
    frame = confounded_binary(n=300, effect=1.0, strength=0.5, seed=22)
    result = analyze_effect(frame, treatment="t", outcome="y", confounders=["w1", "w2"], settings=FAST)
    off = predict_what_if(result, treatment_change=-1)
    assert off.predicted_change == pytest.approx(-result.estimate.value)
    with pytest.raises(ValidationFailed):
        predict_what_if(result, treatment_change=2)
    with pytest.raises(ValidationFailed):
        predict_what_if(result, treatment_change=0)
