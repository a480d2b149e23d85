from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from backend.schemas.common import ReadModel


class BenchmarkRead(ReadModel):
    id: uuid.UUID
    industry: str
    metric: str
    period: str = Field(description="The period the figures describe: day, week, month, quarter or year.")
    p25: float | None
    p50: float | None
    p75: float | None
    source: str = Field(description="Who published the figures.")
    source_url: str = Field(description="Where they were published.")
    year: int


class BenchmarkComparisonRead(BaseModel):
    benchmark: BenchmarkRead
    period_start: datetime = Field(description="Start of the last complete period (the tenant's time zone).")
    period_end: datetime
    aggregation: str = Field(description="How the tenant's points were combined over the period.")
    tenant_value: float | None = Field(description="Null when the tenant has no points in the period.")
    position: str = Field(
        description=(
            "below_p25, p25_p50, p50_p75, above_p75 (or the bands of the percentiles present), or no_data."
        )
    )
    estimated_percentile: float | None = Field(
        description="Linear interpolation between the published percentiles; null outside them."
    )


class BenchmarkComparison(BaseModel):
    metric: str
    industry: str
    comparisons: list[BenchmarkComparisonRead]
