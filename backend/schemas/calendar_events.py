from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.schemas.common import ReadModel
from backend.services.metrics.types import METRIC_NAME_PATTERN


class CalendarEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"\S",
        description="What happens; events with the same name are one effect (every 'Black Friday').",
        examples=["Black Friday"],
    )
    start: date = Field(description="First day (the tenant's local calendar).", examples=["2026-11-27"])
    end: date | None = Field(
        default=None, description="Last day, inclusive (at most 366 days after `start`); default: `start`."
    )
    metric: str | None = Field(
        default=None,
        pattern=METRIC_NAME_PATTERN,
        description="Only this metric's forecasts use it; default: every metric.",
    )


class CalendarEventRead(ReadModel):
    id: uuid.UUID
    name: str
    start: date
    end: date
    metric: str | None
    created_by: uuid.UUID | None
    created_at: datetime
