from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, Field, StringConstraints
from typing_extensions import TypedDict

from backend.services.metrics.points import (
    AGGREGATIONS,
    DIMENSION_KEY_PATTERN,
    MAX_DIMENSION_VALUE_LENGTH,
    MAX_DIMENSIONS,
    METRIC_NAME_PATTERN,
    TIMESTAMP_RANGE_TEXT,
)
from backend.services.metrics.service import MAX_BATCH_POINTS

MetricName = Field(pattern=METRIC_NAME_PATTERN, examples=["revenue"], description="Lowercase slug.")
Aggregation = Literal["sum", "avg", "min", "max", "last", "count"]
assert set(AGGREGATIONS) == set(Aggregation.__args__)  # type: ignore[attr-defined]


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
    source: str = Field(default="manual", max_length=50, pattern=r"^[a-z0-9_:.-]+$")


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


class MetricDefinitionIn(BaseModel):
    unit: str | None = Field(default=None, max_length=30, examples=["USD"])
    description: str | None = Field(default=None, max_length=500)
    aggregation: Aggregation | None = Field(
        default=None, description="How the metric adds up over a period; inferred from the name when omitted."
    )


class MetricRead(BaseModel):
    name: str
    unit: str | None
    description: str | None
    aggregation: Aggregation
    first_ts: datetime | None
    last_ts: datetime | None
    points: int


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
    total: int | None = Field(description="Raw points matching (for paging); null for rollups.")
    series: list[SeriesRead]


class MetricDeleteRead(BaseModel):
    metric: str
    deleted_points: int
    definition_deleted: bool
