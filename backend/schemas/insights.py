from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from backend.schemas.common import ReadModel
from backend.services.insights.types import (
    DigestFrequency,
    InsightLinks,
    InsightNumbers,
    InsightType,
    Severity,
    SuggestedAction,
)
from backend.services.metrics.types import METRIC_NAME_PATTERN


class FollowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(pattern=METRIC_NAME_PATTERN, examples=["revenue"])


class FollowRead(ReadModel):
    id: uuid.UUID
    metric: str
    created_at: datetime


class InsightRead(ReadModel):
    id: uuid.UUID
    type: InsightType
    severity: Severity
    metric: str | None = Field(description="None for a connector's health.")
    period_start: date
    period_end: date = Field(description="Exclusive.")
    sentence: str = Field(description="Plain language; every number in it is in `numbers`.")
    numbers: InsightNumbers
    links: InsightLinks
    suggested_action: SuggestedAction | None = Field(
        description="A next action with its expected effect, where evidence or the optimizer gives one."
    )
    created_at: datetime
    read_at: datetime | None = Field(description="When you read it; None: unread.")
    snoozed_until: datetime | None


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime = Field(description="Hidden from your feed until then (at most 90 days ahead).")


class InsightRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run_async: bool = Field(
        default=False, alias="async", description="Run as a background job (202 with the job id)."
    )


class InsightRunRead(BaseModel):
    today: date = Field(description="The local date the run judged (yesterday is the last complete day).")
    scope: Literal["followed", "favourable_direction"] = Field(
        description="followed: the metrics users follow; favourable_direction: nobody follows any, so "
        "the metrics whose definition states a favourable direction."
    )
    metrics: list[str]
    found: int = Field(description="Findings of this run, new or already stored.")
    created: int = Field(description="Insights stored by this run (the others existed already).")
    by_type: dict[str, int]
    skipped: dict[str, str] = Field(description="Metrics or goals not judged, and why.")
    alerts: int = Field(description="Alerts raised by this run (each queued to its rule's channels).")


class DigestChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frequency: DigestFrequency = Field(
        description="`daily` (every morning), `weekly` (Monday mornings), tenant's time zone; `off`: none."
    )


class DigestRead(BaseModel):
    frequency: DigestFrequency = Field(
        description="`off` until you choose one, and after an unsubscribe link."
    )
    last_sent_on: date | None = Field(description="The local day the last digest went out.")


class UnsubscribeRead(BaseModel):
    frequency: DigestFrequency
    message: str
