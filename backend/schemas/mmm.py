"""Request and response shapes of marketing-mix models (``/api/v1/evidence/mmm``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.schemas.common import ReadModel, SupportedDatetime
from backend.schemas.evidence import MetricName
from backend.services.evidence.types import MAX_CHANNELS, ChannelFit, Decomposition, FitQuality, MmmSpec
from backend.utils.frequency import FrequencyOut, MmmFrequencyIn


class MmmCreate(BaseModel):
    """Which outcome and which spend metrics to model, over which window."""

    outcome: MetricName = Field(description="The outcome metric, e.g. revenue.")
    channels: list[MetricName] = Field(
        min_length=1,
        max_length=MAX_CHANNELS,
        description="Spend metrics, one per channel (currency per bucket).",
    )
    frequency: MmmFrequencyIn = Field(
        "day",
        description="Buckets: day or week (starting Monday); the aliases D, W and W-MON are accepted.",
    )
    start: SupportedDatetime | None = Field(
        None, description="Window start (inclusive), tenant's zone if naive."
    )
    end: SupportedDatetime | None = Field(None, description="Window end (exclusive), tenant's zone if naive.")
    holiday_country: str | None = Field(
        None,
        max_length=10,
        description="ISO 3166 code for holidays; default: the tenant's time zone's country; 'none'.",
    )
    bootstrap_draws: int = Field(
        30, ge=0, le=100, description="Block-bootstrap refits for the intervals (0: point estimates only)."
    )
    confidence_level: float = Field(0.95, gt=0.5, lt=1)
    run_async: bool = Field(
        False,
        alias="async",
        description="Run as a background job: 202 with the job id (GET /api/v1/jobs/{id}).",
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_spec(self) -> MmmSpec:
        return MmmSpec.model_validate(self.model_dump(exclude={"run_async"}))


class MmmRead(ReadModel):
    """A stored marketing-mix model."""

    id: uuid.UUID
    outcome: str
    frequency: FrequencyOut
    data_start: datetime | None = Field(description="Start of the first bucket with the outcome.")
    data_end: datetime | None = Field(description="Start of the last bucket with the outcome.")
    created_at: datetime
    buckets: int
    outcome_total: float
    baseline_total: float = Field(description="The outcome the model attributes to no channel (calendar).")
    channels: list[ChannelFit] = Field(
        description="Per channel: decay, saturation, contribution (total, share), ROI, marginal ROI at the "
        "mean spend per bucket, and the response curve (sustained spend per bucket -> outcome per bucket)."
    )
    fit: FitQuality
    decomposition: Decomposition = Field(description="Outcome per bucket = baseline + each channel.")
    calendar_controls: list[str]
    holiday_country: str | None
    bootstrap_draws: int
    method: str
