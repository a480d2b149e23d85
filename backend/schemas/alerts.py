"""Alert rules, delivery channels, raised alerts and the delivery log."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, time
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from backend.schemas.common import ReadModel
from backend.services.alerts.types import (
    MAX_CHANNELS_PER_RULE,
    METRIC_RULES,
    AttemptOutcome,
    ChannelKind,
    Operator,
    RuleKind,
)
from backend.services.insights.types import Severity
from backend.services.metrics.types import METRIC_NAME_PATTERN

RuleScope = Literal["user", "tenant"]


class QuietHoursSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time = Field(
        description="Local time (the tenant's time zone) quiet hours begin.", examples=["22:00"]
    )
    end: time = Field(description="Local time they end; before `start` spans midnight.", examples=["07:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursSpec:
        if self.start == self.end:
            raise ValueError("quiet hours need a start different from their end")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times, without an offset")
        return self


class RuleWrite(BaseModel):
    """A rule as created or replaced (PUT sends the whole rule)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: RuleKind = Field(
        description="threshold: yesterday's value above/below `threshold`; change: a period-over-period "
        "change of the metric, or of one of its segments (a top-contributors insight); anomaly: an "
        "unusual-value insight; goal_status: a goal at risk; data_health: a connector failing or a "
        "metric gone silent."
    )
    scope: RuleScope = Field(default="user", description="user: yours alone; tenant: everyone's (admin).")
    metric: str | None = Field(
        default=None, pattern=METRIC_NAME_PATTERN, description="Required for threshold."
    )
    operator: Operator | None = Field(default=None, description="threshold only.")
    threshold: float | None = Field(default=None, description="threshold only.")
    min_severity: Severity = Field(default="low", description="Insights below this severity do not fire.")
    quiet_hours: QuietHoursSpec | None = Field(
        default=None, description="Deliveries due in them wait until they end (never dropped)."
    )
    channel_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_CHANNELS_PER_RULE)
    enabled: bool = True

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("threshold must be a finite number")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> RuleWrite:
        is_threshold = self.kind == "threshold"
        if is_threshold and (self.metric is None or self.operator is None or self.threshold is None):
            raise ValueError("a threshold rule needs metric, operator and threshold")
        if not is_threshold and (self.operator is not None or self.threshold is not None):
            raise ValueError("operator and threshold apply to threshold rules only")
        if self.metric is not None and self.kind not in METRIC_RULES:
            raise ValueError(f"a {self.kind} rule does not take a metric")
        return self


class RuleRead(ReadModel):
    id: uuid.UUID
    name: str
    kind: RuleKind
    scope: RuleScope
    metric: str | None
    operator: Operator | None
    threshold: float | None
    min_severity: Severity
    quiet_hours: QuietHoursSpec | None
    channel_ids: list[uuid.UUID]
    enabled: bool
    snoozed_until: datetime | None
    created_at: datetime
    updated_at: datetime


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: ChannelKind
    url: AnyHttpUrl | None = Field(default=None, description="webhook and slack: where to POST.")
    email: EmailStr | None = Field(default=None, description="email: the address alerts go to.")

    @model_validator(mode="after")
    def _target(self) -> ChannelCreate:
        if self.kind == "email":
            if self.email is None or self.url is not None:
                raise ValueError("an email channel takes `email` and no `url`")
        elif self.url is None or self.email is not None:
            raise ValueError(f"a {self.kind} channel takes `url` and no `email`")
        return self


class ChannelRead(ReadModel):
    id: uuid.UUID
    name: str
    kind: ChannelKind
    target: str = Field(description="The URL's scheme and host, or the email address.")
    created_at: datetime


class ChannelCreated(ChannelRead):
    secret: str | None = Field(
        description="webhook only: the signing secret, shown this once (stored encrypted, never shown "
        "again). Verify `X-Dyocense-Signature: sha256=HMAC-SHA256(secret, '<X-Dyocense-Timestamp>.<body>')`."
    )


class AlertRead(ReadModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    insight_id: uuid.UUID | None
    subject: str
    period_key: str
    severity: Severity
    sentence: str
    created_at: datetime


class DeliveryAttemptRead(ReadModel):
    id: uuid.UUID
    delivery_id: uuid.UUID
    attempt: int
    outcome: AttemptOutcome
    status_code: int | None = Field(description="The receiver's HTTP status; None when none came back.")
    latency_ms: float
    error: str | None
    created_at: datetime
