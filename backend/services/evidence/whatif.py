"""What-if: the outcome change implied by an estimated effect for a given treatment change."""

from __future__ import annotations

from typing import Literal

from backend.services.errors import ValidationFailed
from backend.services.evidence.types import CausalResult, EffectEstimate, WhatIfResult


def predict_what_if(
    result: CausalResult,
    *,
    treatment_change: float,
    baseline_outcome: float | None = None,
    baseline_treatment: float | None = None,
    sustained: bool = True,
) -> WhatIfResult:
    """Scale the estimated per-unit effect (and its interval) by ``treatment_change``.

    The effect model is linear — each unit of treatment moves the outcome by the same
    amount — so the change and its interval scale with the treatment change. The
    interval covers the uncertainty of the *average* effect, not period-to-period noise.
    For a binary treatment the only changes are switching it on (+1) or off (-1).
    A new treatment level outside the range seen in the data is flagged as extrapolation.

    With lag effects, a ``sustained`` change uses the cumulative (long-run) effect — the
    outcome per bucket once the change has been in place for every modelled lag — and a
    one-bucket change the immediate one; ``effect_used`` says which.
    """
    if treatment_change == 0:
        raise ValidationFailed("A what-if needs a non-zero treatment change.")
    if result.binary_treatment and treatment_change not in (1, -1):
        raise ValidationFailed(
            "The treatment is binary: the change must be +1 (switch on) or -1 (switch off).",
            context={"treatment_change": treatment_change},
        )
    estimate, used = _effect(result, sustained)
    bounds = sorted((estimate.ci_low * treatment_change, estimate.ci_high * treatment_change))
    change = estimate.value * treatment_change

    low, high = result.treatment_range
    caveats: list[str] = []
    extrapolation = False
    if baseline_treatment is not None and not result.binary_treatment:
        new_level = baseline_treatment + treatment_change
        extrapolation = not (low <= new_level <= high)
        if extrapolation:
            caveats.append(
                f"The new treatment level {new_level:.4g} lies outside the observed range "
                f"[{low:.4g}, {high:.4g}]; the linear effect is an extrapolation there."
            )
    elif not result.binary_treatment and abs(treatment_change) > high - low:
        extrapolation = True
        caveats.append(
            f"The change {treatment_change:.4g} exceeds the whole observed range of the treatment "
            f"({high - low:.4g}); the linear effect is an extrapolation."
        )
    if result.verdict != "supported":
        caveats.append(f"The effect is {result.verdict.replace('_', ' ')}: " + " ".join(result.reasons))
    caveats.append("The interval reflects uncertainty in the average effect, not period-to-period noise.")
    caveats.append(_horizon_caveat(result, used, sustained))

    return WhatIfResult(
        treatment=result.treatment,
        outcome=result.outcome,
        treatment_change=treatment_change,
        predicted_change=change,
        ci_low=bounds[0],
        ci_high=bounds[1],
        confidence_level=estimate.confidence_level,
        baseline_outcome=baseline_outcome,
        predicted_outcome=None if baseline_outcome is None else baseline_outcome + change,
        predicted_outcome_low=None if baseline_outcome is None else baseline_outcome + bounds[0],
        predicted_outcome_high=None if baseline_outcome is None else baseline_outcome + bounds[1],
        extrapolation=extrapolation,
        verdict=result.verdict,
        caveats=caveats,
        effect_used=used,
    )


def _effect(
    result: CausalResult, sustained: bool
) -> tuple[EffectEstimate, Literal["immediate", "cumulative"]]:
    if result.lag_effects is not None and sustained:
        return result.lag_effects.cumulative, "cumulative"
    if result.lag_effects is not None:
        return result.lag_effects.immediate, "immediate"
    return result.estimate, "immediate"


def _horizon_caveat(result: CausalResult, used: str, sustained: bool) -> str:
    if result.lag_effects is None:
        return (
            "No lags of the treatment were modelled: this is the same-bucket effect; a carry-over into later "
            "buckets (analyse with lags) is not included."
        )
    lags = max(c.lag for c in result.lag_effects.by_lag)
    if used == "cumulative":
        return (
            f"Sustained change: the cumulative effect over lags 0..{lags} is used (the outcome per "
            "bucket once the change has been in place that long)."
        )
    return f"One-bucket change: the same-bucket effect is used; lags 1..{lags} add more in later buckets."
