"""Request and response shapes of the evidence API.

The engine's result models (``CausalResult``, ``GrangerResult``, ``ScreeningResult``,
``WhatIfResult``, …) are served as they are: they are already plain Pydantic data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from backend.schemas.common import ReadModel, SupportedDatetime
from backend.services.evidence.types import (
    MAX_ADJUSTMENT_COLUMNS,
    MAX_CATEGORY_LEVELS,
    MAX_CELLS,
    MAX_UNITS,
    MIN_SEGMENT_UNITS,
    AnalysisSpec,
    CausalResult,
    DriversSpec,
    EdgeBaseline,
    EffectEstimate,
    EstimationMethod,
    GrangerResult,
    GrangerSpec,
    ScreeningResult,
    TableReport,
    TargetUnits,
    UnitStudyResult,
    UnitStudySpec,
    Verdict,
    WhatIfResult,
)
from backend.services.metrics.types import METRIC_NAME_PATTERN
from backend.utils.frequency import FREQUENCY_TEXT, FrequencyIn

MetricName = Annotated[str, StringConstraints(pattern=METRIC_NAME_PATTERN)]
# Graph nodes may also be treatment lag columns (``ad_spend_lag1``) or unobserved variables.
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,99}$")]
_FREQUENCY: Any = Field("day", description=f"Bucket size: {FREQUENCY_TEXT}")
_START = Field(None, description="Window start (inclusive); without an offset, in the tenant's time zone.")
_END = Field(None, description="Window end (exclusive); without an offset, in the tenant's time zone.")


class GraphEdgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: NodeName
    effect: NodeName


class AnalysisOptions(BaseModel):
    """How hard the refuters try, and the interval's level."""

    model_config = ConfigDict(extra="forbid")

    refutation_simulations: int = Field(
        20, ge=10, le=200, description="Draws of the placebo, random-common-cause and subset refuters."
    )
    compare_methods: bool = Field(
        True,
        description="Also estimate with the other applicable methods (including double ML) as a cross-check.",
    )
    confidence_level: float = Field(0.95, ge=0.5, le=0.999)


class AnalysisInputsIn(BaseModel):
    """What to analyse: one treatment (a lever) and one outcome, with confounders or a graph."""

    model_config = ConfigDict(extra="forbid")

    outcome: MetricName = Field(examples=["revenue"])
    treatment: MetricName = Field(examples=["ad_spend"])
    confounders: list[MetricName] = Field(
        default_factory=list,
        max_length=MAX_ADJUSTMENT_COLUMNS,
        examples=[["promo"]],
        description="Metrics that drive both treatment and outcome. Default graph: each of them causes both. "
        f"At most {MAX_ADJUSTMENT_COLUMNS}; many confounders over a long window run as a background job.",
    )
    graph: list[GraphEdgeIn] | None = Field(
        None,
        max_length=200,
        description="Causal graph as edges; identification finds the adjustment set from it. Nodes that "
        "are not metrics (nor treatment lag columns) are unobserved. Give confounders or a graph, not both.",
    )
    method: EstimationMethod = "linear_regression"
    target_units: TargetUnits = Field("ate", description="ate, or att (binary treatments only).")
    randomized: bool = Field(False, description="The treatment was assigned at random (an experiment).")
    lags: list[Annotated[int, Field(ge=1, le=60)]] = Field(
        default_factory=list,
        max_length=10,
        description="Add the treatment k buckets earlier as columns (adjusted for with the default graph) "
        "and run Granger tests up to the largest k.",
    )
    frequency: FrequencyIn = _FREQUENCY
    start: SupportedDatetime | None = _START
    end: SupportedDatetime | None = _END
    design: Literal["time_series", "levels"] = Field(
        "time_series",
        description="time_series (default): calendar controls (day of week, yearly season, public holidays, "
        "trend) are adjusted for, outcome and lever are tested for stationarity (ADF + KPSS) and "
        "differenced when not stationary, intervals are Newey–West (HAC), and placebo-in-time and "
        "rolling-window refutations run. levels: every bucket is treated as an independent unit (at most "
        "`fragile`).",
    )
    holiday_country: str | None = Field(
        None,
        pattern=r"^([A-Za-z]{2}|none)$",
        examples=["US"],
        description="ISO 3166 country whose public holidays are a calendar control. Default: the country "
        "of the tenant's time zone (none for UTC); `none` for no holiday control.",
    )
    negative_controls: list[MetricName] = Field(
        default_factory=list,
        max_length=10,
        description="Outcomes the lever cannot move; an estimated effect on one blocks the verdict.",
    )
    options: AnalysisOptions = Field(default_factory=AnalysisOptions)

    def to_spec(self) -> AnalysisSpec:
        return AnalysisSpec(
            outcome=self.outcome,
            treatment=self.treatment,
            confounders=self.confounders,
            edges=[(e.cause, e.effect) for e in self.graph or []],
            method=self.method,
            target_units=self.target_units,
            randomized=self.randomized,
            lags=sorted(set(self.lags)),
            frequency=self.frequency,
            start=self.start,
            end=self.end,
            design=self.design,
            holiday_country=self.holiday_country,
            negative_controls=self.negative_controls,
            **self.options.model_dump(),
        )


class AnalysisCreate(AnalysisInputsIn):
    run_async: bool = Field(
        False,
        alias="async",
        description="Run as a background job: 202 with the job id (GET /api/v1/jobs/{id}).",
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EvidenceEdgeSummary(ReadModel):
    """One stored analysis ``cause -> effect``: the effect per unit of cause and its interval."""

    id: uuid.UUID
    cause: str
    effect: str
    effect_size: float | None = Field(description="Outcome units per one unit of the cause.")
    ci_lower: float | None
    ci_upper: float | None
    method: str
    verdict: Verdict
    data_start: datetime | None = Field(description="Start of the first aligned bucket.")
    data_end: datetime | None = Field(description="End (exclusive) of the last aligned bucket.")
    analysed_at: datetime


class EvidenceEdgeRead(EvidenceEdgeSummary):
    reasons: list[str] = Field(description="Why the verdict, in words.")
    result: CausalResult = Field(description="Estimate, other methods, refutations, sensitivity, overlap.")
    table: TableReport = Field(description="How the metric series were aligned into the analysis table.")
    granger: GrangerResult | None = Field(
        description="Granger tests up to the largest lag (when lags given)."
    )
    granger_unavailable: str | None = Field(description="Why Granger tests could not run, if they could not.")
    baseline: EdgeBaseline = Field(description="Average outcome and treatment per bucket over the window.")
    inputs: dict[str, JsonValue] = Field(
        description="The analysis as run (window resolved to the tenant's zone)."
    )
    unobserved_nodes: list[str] = Field(description="Graph nodes with no metric: treated as unobserved.")


class GraphNodeRead(BaseModel):
    id: str = Field(description="The metric name.")
    label: str
    unit: str | None


class GraphEdgeRead(EvidenceEdgeSummary):
    source: str = Field(description="Same as cause (for graph-drawing libraries).")
    target: str = Field(description="Same as effect.")


class EvidenceGraphRead(BaseModel):
    nodes: list[GraphNodeRead]
    edges: list[GraphEdgeRead] = Field(description="Newest evidence per (cause, effect) pair.")


class EvidenceWhatIfCreate(BaseModel):
    """A stored edge (``edge_id``) or a fresh analysis (``analysis``, stored too), and the change."""

    model_config = ConfigDict(extra="forbid")

    edge_id: uuid.UUID | None = None
    analysis: AnalysisInputsIn | None = None
    treatment_change: float = Field(
        allow_inf_nan=False, description="Change of the treatment per bucket (binary: +1 or -1)."
    )
    baseline_outcome: float | None = Field(
        None, allow_inf_nan=False, description="Default: the average outcome per bucket over the window."
    )
    baseline_treatment: float | None = Field(
        None, allow_inf_nan=False, description="Default: the average treatment per bucket over the window."
    )
    sustained: bool = Field(
        True,
        description="The change is kept in every bucket (the cumulative effect over the lags is used); "
        "false: a one-bucket change, whose same-bucket effect is used.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> EvidenceWhatIfCreate:
        if (self.edge_id is None) == (self.analysis is None):
            raise ValueError("give exactly one of edge_id or analysis")
        return self


class EvidenceWhatIfRead(WhatIfResult):
    edge_id: uuid.UUID
    baseline_source: Literal["request", "window_average"]


class DriversCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: MetricName = Field(examples=["revenue"])
    candidates: list[MetricName] | None = Field(
        None,
        max_length=100,
        description="Metrics to screen; default: every metric in the catalog (those too thin are skipped).",
    )
    confounders: list[MetricName] = Field(
        default_factory=list,
        max_length=20,
        description="Adjusted for in the estimates of the top candidates.",
    )
    top: int = Field(3, ge=0, le=10, description="Estimate the effect of this many top discoveries.")
    method: Literal["pearson", "spearman"] = "spearman"
    difference: bool = Field(False, description="First-difference the series (removes shared trends).")
    false_discovery_rate: float = Field(0.1, gt=0, lt=1)
    frequency: FrequencyIn = _FREQUENCY
    start: SupportedDatetime | None = _START
    end: SupportedDatetime | None = _END

    def to_spec(self) -> DriversSpec:
        return DriversSpec(**self.model_dump())


class DriverEstimateRead(BaseModel):
    treatment: str
    adjusted_for: list[str]
    estimate: EffectEstimate | None = Field(
        description="Effect per unit; null when it could not be estimated."
    )
    problem: str | None


class DriversRead(BaseModel):
    kind: Literal["screening"] = "screening"
    screening: ScreeningResult = Field(description="Associations after Benjamini-Hochberg; not causation.")
    skipped: dict[str, str] = Field(description="Default candidates left out, and why.")
    estimates: list[DriverEstimateRead] = Field(
        description="Cheap estimates for the top discoveries: no refuters and no verdict."
    )
    note: str


class GrangerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: MetricName = Field(examples=["ad_spend"])
    effect: MetricName = Field(examples=["revenue"])
    max_lag: int = Field(7, ge=1, le=30)
    difference: bool | None = Field(
        None, description="First-difference both series; default: when a unit-root test says so."
    )
    alpha: float = Field(0.05, gt=0, lt=1)
    frequency: FrequencyIn = _FREQUENCY
    start: SupportedDatetime | None = _START
    end: SupportedDatetime | None = _END

    def to_spec(self) -> GrangerSpec:
        return GrangerSpec(**self.model_dump())


class GrangerRead(GrangerResult):
    table: TableReport


# --------------------------------------------------------------------------- unit-level studies

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Cell = str | float | int | bool | None


class UnitStudyOptions(BaseModel):
    """What to analyse in a table of units: the columns' roles, the method and the refuters' effort."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    unit_id: ColumnName = Field(
        examples=["customer_id"], description="Column naming each unit; ids must be unique."
    )
    treatment: ColumnName = Field(
        examples=["got_coupon"], description="Numeric column: binary (0/1) or continuous treatment."
    )
    outcome: ColumnName = Field(examples=["spend"], description="Numeric outcome column.")
    covariates: list[ColumnName] = Field(
        default_factory=list,
        max_length=MAX_ADJUSTMENT_COLUMNS,
        examples=[["age", "visits_last_year"]],
        description="Numeric columns that drive both treatment and outcome (default graph: each causes "
        "both). "
        f"With the one-hot levels of `categorical`, at most {MAX_ADJUSTMENT_COLUMNS} adjustment columns.",
    )
    categorical: list[ColumnName] = Field(
        default_factory=list,
        max_length=MAX_ADJUSTMENT_COLUMNS,
        examples=[["region"]],
        description=f"Text columns one-hot encoded against their most frequent level (at most "
        f"{MAX_CATEGORY_LEVELS} levels each) and adjusted for.",
    )
    segment: ColumnName | None = Field(
        None,
        examples=["region"],
        description="Column whose values split the units into segments: each segment's effect with an "
        "interval "
        f"and a test of heterogeneity; segments under {MIN_SEGMENT_UNITS} units are reported, not estimated.",
    )
    method: EstimationMethod = "linear_regression"
    target_units: TargetUnits = Field("ate", description="ate, or att (binary treatments only).")
    randomized: bool = Field(False, description="The treatment was assigned at random (an A/B test).")
    options: AnalysisOptions = Field(default_factory=AnalysisOptions)
    run_async: bool = Field(
        False,
        alias="async",
        description="Run as a background job: 202 with the job id (GET /api/v1/jobs/{id}).",
    )

    def to_spec(self) -> UnitStudySpec:
        return UnitStudySpec(
            **self.model_dump(exclude={"options", "run_async", "rows"}), **self.options.model_dump()
        )


class UnitStudyCreate(UnitStudyOptions):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rows: list[dict[ColumnName, Cell]] = Field(
        min_length=1,
        max_length=MAX_UNITS,
        examples=[[{"customer_id": "c1", "got_coupon": 1, "spend": 42.5, "age": 31, "region": "north"}]],
        description=f"One object per unit (at most {MAX_UNITS:,} units and {MAX_CELLS:,} cells read).",
    )


class UnitStudyRead(UnitStudyResult):
    """The study's answer: overall effect with refutations and verdict, and segment effects."""
