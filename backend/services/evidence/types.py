"""The evidence feature's types: literals, limits, specifications and result models.

A leaf module (Pydantic only), so schemas may import it. Plain Pydantic models (frozen,
JSON-serialisable) so the service layer can persist them in the evidence graph or return
them through the API unchanged; ``evidence_graph.details`` and
``marketing_mix_models.result`` are written and read only through them (by the repository).
Numbers are floats in the units of the data: an effect is "outcome units per one unit of
treatment" (for a binary treatment: treated minus untreated).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

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


# --------------------------------------------------------------------------- limits

# A segment needs this many units (and, for a binary treatment, MIN_UNITS_PER_ARM per arm) to be
# estimated; smaller ones are reported as too small.
MIN_SEGMENT_UNITS = 30
# Marketing-mix models take at most this many spend channels.
MAX_CHANNELS = 10
MAX_UNITS = 20_000
MAX_CELLS = 1_000_000
# Adjustment columns after one-hot encoding. Why 200: linear adjustment needs about ten units per
# coefficient (2,020 units at the cap), the cell cap then leaves room for up to ~4,900 units, and
# the sensitivity analysis benchmarks a hidden confounder against every covariate (cost linear in
# columns): 4,800 units x 200 covariates with the default refuters and cross-checks took 130 s wall
# / 102 s CPU as a job on two shared cores — minutes, not hours. Well above the old 20.
MAX_ADJUSTMENT_COLUMNS = 200
# A categorical column with more levels is an identifier, not a covariate.
MAX_CATEGORY_LEVELS = 50
# Below this many units no unit-level estimate is reported (on top of ten units per coefficient).
MIN_UNITS = 40
# A binary treatment needs this many units in each arm.
MIN_UNITS_PER_ARM = 10

DesignKind = Literal["time_series", "levels"]


# --------------------------------------------------------------------------- specifications


class AnalysisSpec(BaseModel):
    """One causal analysis, as plain JSON (it is also the payload of a background job)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: str
    treatment: str
    confounders: list[str] = []
    edges: list[tuple[str, str]] = []
    method: EstimationMethod = "linear_regression"
    target_units: TargetUnits = "ate"
    randomized: bool = False
    lags: list[int] = []
    frequency: str = "day"
    start: datetime | None = None
    end: datetime | None = None
    refutation_simulations: int = 20
    compare_methods: bool = True
    confidence_level: float = 0.95
    design: DesignKind = "time_series"
    # ISO 3166 code or "none"; None: the service resolves it from the tenant's time zone.
    holiday_country: str | None = None
    negative_controls: list[str] = []


class DriversSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: str
    candidates: list[str] | None = None
    confounders: list[str] = []
    top: int = 3
    method: Literal["pearson", "spearman"] = "spearman"
    difference: bool = False
    false_discovery_rate: float = 0.1
    frequency: str = "day"
    start: datetime | None = None
    end: datetime | None = None
    confidence_level: float = 0.95


class GrangerSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cause: str
    effect: str
    max_lag: int
    difference: bool | None = None
    alpha: float = 0.05
    frequency: str = "day"
    start: datetime | None = None
    end: datetime | None = None


class UnitStudySpec(BaseModel):
    """One unit-level study, as plain JSON (also the payload of its background job)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit_id: str
    treatment: str
    outcome: str
    covariates: list[str] = []
    categorical: list[str] = []
    segment: str | None = None
    method: EstimationMethod = "linear_regression"
    target_units: TargetUnits = "ate"
    randomized: bool = False
    refutation_simulations: int = 20
    compare_methods: bool = True
    confidence_level: float = 0.95


class MmmSpec(BaseModel):
    """One marketing-mix model, as plain JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: str
    channels: list[str]
    frequency: str = "day"
    start: datetime | None = None
    end: datetime | None = None
    holiday_country: str | None = None
    bootstrap_draws: int = 30
    confidence_level: float = 0.95


# --------------------------------------------------------------------------- unit studies


class SegmentEffect(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment: str
    units: int
    treated: int | None = Field(description="Units with treatment 1 (binary treatments only).")
    status: Literal["estimated", "too_small", "no_variation"]
    value: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None = Field(description="Why the segment was not estimated.")


class HeterogeneityTest(BaseModel):
    model_config = ConfigDict(frozen=True)

    test: Literal["wald_equal_effects"] = "wald_equal_effects"
    statistic: float
    df: int
    p_value: float
    alpha: float
    heterogeneous: bool = Field(description="p < alpha: the segments' effects differ.")


class SegmentReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment: str = Field(description="The segment column.")
    min_units: int
    effects: list[SegmentEffect]
    heterogeneity: HeterogeneityTest | None = Field(
        description="None with fewer than two estimated segments."
    )
    note: str


class UnitStudyResult(BaseModel):
    """A unit-level study: the overall effect (estimate, refutations, verdict) and segment effects."""

    model_config = ConfigDict(frozen=True)

    units: int
    treated: int | None = Field(description="Units with treatment 1 (binary treatments only).")
    adjustment_columns: int
    encoded: dict[str, list[str]] = Field(description="One-hot columns of each categorical covariate.")
    reference_levels: dict[str, str] = Field(description="The left-out (most frequent) level of each.")
    result: CausalResult
    segments: SegmentReport | None


# --------------------------------------------------------------------------- marketing-mix models


class Interval(BaseModel):
    value: float
    low: float
    high: float


class CurvePoint(BaseModel):
    spend: float
    response: float
    low: float
    high: float


class ChannelFit(BaseModel):
    """One channel: its fitted curve parameters and what it brought."""

    name: str
    decay: float
    saturation: float  # λ, per unit of spend / spend_scale
    coefficient: float  # β, in outcome units (already multiplied by the outcome scale)
    spend_scale: float
    total_spend: float
    mean_spend: float
    contribution: Interval
    share: float
    roi: Interval
    marginal_roi: Interval
    response_curve: list[CurvePoint]


class FitQuality(BaseModel):
    r2: float
    mape: float | None
    holdout_r2: float | None
    holdout_mape: float | None
    holdout_buckets: int


class Decomposition(BaseModel):
    buckets: list[str]
    outcome: list[float]
    baseline: list[float]
    channels: dict[str, list[float]]


class MmmFit(BaseModel):
    """Everything stored for a fitted model."""

    outcome: str
    frequency: str
    buckets: int
    baseline_total: float
    outcome_total: float
    channels: list[ChannelFit]
    fit: FitQuality
    decomposition: Decomposition
    calendar_controls: list[str]
    holiday_country: str | None
    bootstrap_draws: int
    method: str


# --------------------------------------------------------------------------- the stored edge


class EdgeBaseline(BaseModel):
    """Average outcome and treatment per bucket over an analysed window."""

    outcome_mean: float | None = None
    treatment_mean: float | None = None


class EdgeDetails(BaseModel):
    """``evidence_graph.details``: everything about an analysis beyond the edge's columns."""

    result: CausalResult
    table: TableReport
    granger: GrangerResult | None = None
    granger_unavailable: str | None = None
    baseline: EdgeBaseline = Field(default_factory=EdgeBaseline)
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    unobserved_nodes: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
