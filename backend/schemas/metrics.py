from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from typing_extensions import TypedDict

from backend.services.metrics.types import (
    AGGREGATIONS,
    CURRENCY_PATTERN,
    DIMENSION_KEY_PATTERN,
    DISPLAY_FORMATS,
    MAX_BATCH_POINTS,
    MAX_DEFINITION_SOURCES,
    MAX_DIMENSION_VALUE_LENGTH,
    MAX_DIMENSIONS,
    METRIC_NAME_PATTERN,
    SOURCE_NAME_PATTERN,
    TIMESTAMP_RANGE_TEXT,
)

MetricName = Field(pattern=METRIC_NAME_PATTERN, examples=["revenue"], description="Lowercase slug.")
Aggregation = Literal["sum", "avg", "min", "max", "last", "count"]
assert set(AGGREGATIONS) == set(Aggregation.__args__)  # type: ignore[attr-defined]
DisplayFormat = Literal["number", "integer", "currency", "percent"]
assert set(DISPLAY_FORMATS) == set(DisplayFormat.__args__)  # type: ignore[attr-defined]
SourceName = Annotated[str, StringConstraints(pattern=SOURCE_NAME_PATTERN)]


# Constraints (not Python validators) so pydantic-core checks 10,000 points without a Python call each.
DimensionKey = Annotated[str, StringConstraints(pattern=DIMENSION_KEY_PATTERN)]
DimensionValue = Annotated[str, StringConstraints(min_length=1, max_length=MAX_DIMENSION_VALUE_LENGTH)]


# A TypedDict, not a model: a batch of 10,000 points validates several times faster.
class MetricPointIn(TypedDict):
    """One observation of a metric."""

    metric: Annotated[str, MetricName]
    ts: Annotated[
        datetime,
        Field(
            description="ISO 8601; without an offset it is read in the tenant's time zone. "
            f"The instant must lie {TIMESTAMP_RANGE_TEXT}."
        ),
    ]
    value: Annotated[float, Field(allow_inf_nan=False)]
    dimensions: NotRequired[
        Annotated[
            dict[DimensionKey, DimensionValue],
            Field(
                max_length=MAX_DIMENSIONS,
                examples=[{"channel": "ads", "store": "north"}],
                description="Small string map; keys are lowercase slugs.",
            ),
        ]
    ]


class MetricBatchIn(BaseModel):
    points: list[MetricPointIn] = Field(min_length=1, max_length=MAX_BATCH_POINTS)
    source: str = Field(
        default="manual",
        pattern=SOURCE_NAME_PATTERN,
        description="Who wrote the points. A metric that already has points of another source only "
        "takes them when its definition lists this source (else 409 source_conflict).",
    )


class IngestRead(BaseModel):
    received: int
    inserted: int
    updated: int
    unchanged: int = Field(description="Points identical to what was stored.")
    duplicates_in_batch: int = Field(
        description="Repeated (metric, ts, dimensions) in the batch; the last won."
    )
    metrics: list[str]


class UploadErrorRead(BaseModel):
    row: int = Field(description="Line in the file; the header is row 1.")
    column: str | None
    message: str


class UploadPreviewPoint(BaseModel):
    metric: str
    ts: datetime
    value: float
    dimensions: dict[str, str]


class UploadMappingRead(BaseModel):
    """How the file's columns become points."""

    layout: Literal["long", "wide"]
    timestamp_column: str
    dimension_columns: list[str] = Field(
        description="Text columns read as dimensions (wide: guessed from the values unless `dimensions` "
        "names them; long: every column besides metric, timestamp and value)."
    )
    metric_columns: list[str] = Field(description="Wide layout: the columns of numbers, one metric each.")
    points_per_metric: dict[str, int] = Field(description="Valid points per metric.")
    first_ts: datetime | None
    last_ts: datetime | None


class UploadRead(BaseModel):
    dry_run: bool
    layout: Literal["long", "wide"]
    mapping: UploadMappingRead
    rows_read: int
    points: int
    metrics: list[str]
    preview: list[UploadPreviewPoint] = Field(description="The first parsed points.")
    error_count: int = Field(
        description="Bad cells found (a dry run reports them; a real upload is refused)."
    )
    errors: list[UploadErrorRead] = Field(description="The first 100 bad cells, by row and column.")
    result: IngestRead | None = Field(description="What was written (absent on a dry run).")


class MetricSourcesIn(BaseModel):
    """How the points of several sources combine when the metric is read."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["priority", "additive"] = Field(
        description="priority: one source of truth, the first listed source with data in the window "
        "(others stay readable with source=); additive: the listed sources really add up."
    )
    priority: list[SourceName] = Field(
        default_factory=list,
        max_length=MAX_DEFINITION_SOURCES,
        examples=[["manual", "data_source:0b6c6f0e-6a4b-4f3e-9c1a-2f6f1c1f3a10"]],
        description="Source names (manual, upload, data_source:<id>, …), in order; no repeats.",
    )

    @field_validator("priority")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each source may be listed once")
        return value


class MetricDefinitionIn(BaseModel):
    """A metric's meaning. Fields left out keep their stored value; null clears one."""

    model_config = ConfigDict(extra="forbid")

    unit: str | None = Field(default=None, max_length=30, examples=["USD"])
    description: str | None = Field(default=None, max_length=500)
    aggregation: Aggregation | None = Field(
        default=None, description="How the metric adds up over a period; inferred from the name when omitted."
    )
    currency: str | None = Field(
        default=None, pattern=CURRENCY_PATTERN, examples=["USD"], description="ISO 4217 code (3 capitals)."
    )
    favourable_direction: Literal["up", "down"] | None = Field(
        default=None, description="up: more is better (revenue); down: less is better (churn, costs)."
    )
    non_negative: bool | None = Field(default=None, description="True when the metric is never below 0.")
    display_format: DisplayFormat | None = None
    sources: MetricSourcesIn | None = Field(
        default=None, description="How sources combine; the first source to write a metric is listed first."
    )

    def changes(self) -> dict[str, Any]:
        """The definition columns this request sets (only the fields it sent)."""
        sent = self.model_dump(include=self.model_fields_set - {"sources"})
        if "sources" in self.model_fields_set:
            sources = self.sources or MetricSourcesIn(rule="priority", priority=[])
            sent.update(source_rule=sources.rule, source_priority=list(sources.priority))
        return sent


class MetricSourcesRead(BaseModel):
    rule: Literal["priority", "additive"]
    priority: list[str]


class MetricRead(BaseModel):
    name: str
    unit: str | None
    description: str | None
    aggregation: Aggregation
    currency: str | None
    favourable_direction: Literal["up", "down"] | None
    non_negative: bool | None
    display_format: DisplayFormat | None
    sources: MetricSourcesRead
    first_ts: datetime | None
    last_ts: datetime | None
    points: int = Field(description="Points stored, every source counted.")


class SeriesPointRead(BaseModel):
    ts: datetime = Field(description="Raw timestamp, or the start of the bucket.")
    value: float | None
    count: int | None = Field(default=None, description="Points in the bucket (rollups).")
    filled: bool = Field(default=False, description="True for an empty bucket filled by the gap rule.")
    dimensions: dict[str, str] | None = Field(default=None, description="Raw points only.")
    source: str | None = Field(default=None, description="Raw points only.")


class SeriesRead(BaseModel):
    group: str | None = Field(description="Value of the group_by dimension (null when not grouped).")
    points: list[SeriesPointRead]


class MetricQueryRead(BaseModel):
    metric: str
    unit: str | None
    bucket: str | None = Field(description="Null for raw points.")
    aggregation: Aggregation | None
    timezone: str
    start: datetime | None
    end: datetime | None
    group_by: str | None
    total: int = Field(description="Raw points, or rollup rows (group x bucket), in the whole answer.")
    limit: int
    offset: int
    source_rule: Literal["priority", "additive"]
    sources_used: list[str] = Field(description="The source(s) read (the rule's choice, or source=).")
    sources_available: list[str] = Field(description="Every source with points in the window.")
    currency: str | None = Field(
        default=None,
        description="The currency of the values (rollups): the definition's unless converted; null for "
        "a metric that is not money.",
    )
    converted: bool = Field(
        default=False,
        description="True when points in another currency were converted with the exchange rates of "
        "their own days (rollups).",
    )
    series: list[SeriesRead]


class MetricDeleteRead(BaseModel):
    metric: str
    deleted_points: int
    definition_deleted: bool
