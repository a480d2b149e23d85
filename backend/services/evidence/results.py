"""Result models of the evidence engine, one per operation.

Plain Pydantic models (frozen, JSON-serialisable) so the service layer can
persist them in the evidence graph or return them through the API unchanged.
Numbers are floats in the units of the data: an effect is "outcome units per
one unit of treatment" (for a binary treatment: treated minus untreated).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.utils.frequency import FrequencyOut

Verdict = Literal["supported", "fragile", "not_supported"]
EstimationMethod = Literal["linear_regression", "propensity_weighting", "double_ml"]
TargetUnits = Literal["ate", "att"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class TableReport(_Frozen):
    """How the analysis table was built from the raw metric series."""

    frequency: FrequencyOut
    rows: int
    start: datetime | None
    end: datetime | None
    columns: list[str]
    buckets_seen: int = Field(description="Buckets where at least one metric had a value.")
    dropped_rows: int = Field(description="Buckets dropped because a column was missing there.")
    dropped_by_column: dict[str, int] = Field(
        description="For each column, the buckets in which it was missing (a bucket can count for several)."
    )
    treatment_lag_columns: list[str]


class EffectEstimate(_Frozen):
    """One causal estimate: value, interval, and how it was obtained."""

    method: EstimationMethod
    target_units: TargetUnits
    value: float
    ci_low: float
    ci_high: float
    confidence_level: float
    p_value: float
    standard_error: float
    n: int
    interval_method: str = Field(description="analytic (OLS), bootstrap, or the DML final-stage inference.")


class RefutationOutcome(_Frozen):
    """The result of one refuter; ``passed`` is None when the test could not apply."""

    name: Literal[
        "placebo_treatment",
        "random_common_cause",
        "data_subset",
        "unobserved_confounder",
        "placebo_in_time",
        "rolling_windows",
        "negative_control",
        "estimator_agreement",
    ]
    passed: bool | None
    new_effect: float | None
    p_value: float | None
    detail: str


class SensitivityDetail(_Frozen):
    """Cinelli-Hazlett sensitivity of the (linear) adjusted estimate to an unobserved confounder."""

    robustness_value: float = Field(
        description="Partial R² a confounder needs with both T and Y to explain the effect away."
    )
    robustness_value_alpha: float = Field(
        description="Partial R² needed to make the effect statistically insignificant."
    )
    benchmark: str | None = Field(
        description="Observed confounder the unobserved one is assumed as strong as."
    )
    adjusted_estimate: float | None
    adjusted_ci_low: float | None
    adjusted_ci_high: float | None
    strength: float = Field(
        1.0, description="Multiple of the benchmark's partial R² assumed for the hidden confounder."
    )


class PropensitySummary(_Frozen):
    """Quantiles of the estimated propensity score in one group."""

    n: int
    minimum: float
    q05: float
    median: float
    q95: float
    maximum: float


class OverlapDiagnostics(_Frozen):
    """Common-support check for a binary treatment, with the estimate on the trimmed sample."""

    treated: PropensitySummary
    control: PropensitySummary
    effective_sample_size_treated: float
    effective_sample_size_control: float
    trim_bounds: tuple[float, float]
    kept_treated: int
    kept_control: int
    share_outside_bounds: float
    adequate: bool
    detail: str
    trimmed_estimate: EffectEstimate | None
    trimmed_constant_confounders: list[str] = Field(
        default_factory=list,
        description="Confounders constant on common support, left out of the trimmed fit.",
    )


class StationarityCheck(_Frozen):
    """ADF (null: unit root) and KPSS (null: stationary) on one series net of the calendar."""

    series: str
    adf_p_value: float
    kpss_p_value: float
    stationary: bool = Field(description="ADF rejects a unit root and KPSS does not reject stationarity.")


class TimeSeriesDesign(_Frozen):
    """How a metric analysis treated time: calendar controls, stationarity, transformation, HAC."""

    kind: Literal["time_series", "levels"]
    transformation: Literal["first_difference", "levels_with_trend", "levels"]
    calendar_controls: list[str]
    holiday_country: str | None
    stationarity: list[StationarityCheck]
    hac_lags: int | None = Field(description="Newey–West lags of the HAC intervals (None: i.i.d. intervals).")
    note: str


class LagCoefficient(_Frozen):
    lag: int = Field(description="Buckets after the change (0: the same bucket).")
    value: float
    ci_low: float
    ci_high: float


class LagEffects(_Frozen):
    """Distributed-lag effects of the lever: same-bucket and long-run (sum over the lags)."""

    immediate: EffectEstimate = Field(description="Effect in the bucket of the change.")
    cumulative: EffectEstimate = Field(
        description="Long-run effect of a sustained one-unit change: the sum of the lag coefficients."
    )
    by_lag: list[LagCoefficient]


class CausalResult(_Frozen):
    """Everything the analysis of one treatment → outcome edge produced."""

    treatment: str
    outcome: str
    adjustment_set: list[str]
    graph_source: Literal["default", "user"]
    binary_treatment: bool
    estimate: EffectEstimate
    other_estimates: list[EffectEstimate]
    naive_difference: float = Field(description="Unadjusted slope (or difference in means) for comparison.")
    refutations: list[RefutationOutcome]
    sensitivity: SensitivityDetail | None
    overlap: OverlapDiagnostics | None
    treatment_range: tuple[float, float]
    verdict: Verdict
    reasons: list[str]
    design: TimeSeriesDesign | None = Field(
        None, description="Time-series design of a metric analysis (None: a plain cross-section)."
    )
    lag_effects: LagEffects | None = Field(None, description="With lags: immediate and cumulative effects.")


class GrangerLagTest(_Frozen):
    lag: int
    f_statistic: float
    p_value: float
    aic: float
    bic: float


class GrangerResult(_Frozen):
    """Granger test of "past ``cause`` helps predict ``effect``" at each lag up to ``max_lag``."""

    cause: str
    effect: str
    n: int
    differenced: bool
    stationarity_p_values: dict[str, float]
    lags: list[GrangerLagTest]
    chosen_lag: int
    chosen_p_value: float
    significant: bool
    alpha: float
    note: str


class ScreenedCandidate(_Frozen):
    name: str
    n: int
    correlation: float
    p_value: float
    q_value: float = Field(description="Benjamini-Hochberg adjusted p-value.")
    discovered: bool


class ScreeningResult(_Frozen):
    """Correlation screening of many candidate drivers; association only, never causation."""

    kind: Literal["screening"] = "screening"
    outcome: str
    method: Literal["pearson", "spearman"]
    differenced: bool
    false_discovery_rate: float
    candidates: list[ScreenedCandidate]
    note: str


class WhatIfResult(_Frozen):
    """Predicted change in the outcome for a change in the treatment, from an estimated effect."""

    treatment: str
    outcome: str
    treatment_change: float
    predicted_change: float
    ci_low: float
    ci_high: float
    confidence_level: float
    baseline_outcome: float | None
    predicted_outcome: float | None
    predicted_outcome_low: float | None
    predicted_outcome_high: float | None
    extrapolation: bool
    verdict: Verdict
    caveats: list[str]
    effect_used: Literal["immediate", "cumulative"] = Field(
        "immediate",
        description="cumulative: the long-run effect of a sustained change (sum of the lag effects); "
        "immediate: the same-bucket effect.",
    )
