"""Insights: metric follows, the insights the engine found, and each user's read/snooze state."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import (
    Base,
    CreatedAtMixin,
    TenantEntityMixin,
    TenantMixin,
    TimestampMixin,
    one_of,
    tenant_reference,
)
from backend.services.insights.types import DIGEST_FREQUENCIES, INSIGHT_TYPES, SEVERITIES


class MetricFollow(TenantEntityMixin, CreatedAtMixin, Base):
    """A user follows a metric: the engine watches it and the user's feed and digests show it."""

    __tablename__ = "metric_follows"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "metric"),
        tenant_reference("user_id", "users", on_delete="cascade"),
        # Deleting a metric's definition ends its follows.
        ForeignKeyConstraint(
            ["tenant_id", "metric"],
            ["metric_definitions.tenant_id", "metric_definitions.name"],
            ondelete="CASCADE",
        ),
        Index("ix_metric_follows_tenant_id_metric", "tenant_id", "metric"),
    )

    user_id: Mapped[uuid.UUID]
    metric: Mapped[str] = mapped_column(String(100))


class Insight(TenantEntityMixin, CreatedAtMixin, Base):
    """One thing the engine found. ``idempotency_key`` (type, metric, period, variant) is unique per
    tenant, so the same finding is stored once however many runs or workers find it."""

    __tablename__ = "insights"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        one_of("type", INSIGHT_TYPES),
        one_of("severity", SEVERITIES),
        CheckConstraint("period_end > period_start", name="period_valid"),
        Index("ix_insights_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_insights_tenant_id_metric_created_at", "tenant_id", "metric", "created_at"),
    )

    metric: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    sentence: Mapped[str] = mapped_column(Text)
    # Written and read through backend.services.insights.types: InsightNumbers, InsightLinks and
    # SuggestedAction.
    numbers: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    links: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    suggested_action: Mapped[dict[str, Any] | None]
    idempotency_key: Mapped[str] = mapped_column(String(300))


class InsightState(TenantMixin, Base):
    """One user's state of one insight: when they read it, until when it is snoozed."""

    __tablename__ = "insight_states"
    __table_args__ = (
        tenant_reference("insight_id", "insights", on_delete="cascade"),
        tenant_reference("user_id", "users", on_delete="cascade"),
    )

    insight_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DigestSubscription(TenantMixin, TimestampMixin, Base):
    """A user's digest: ``daily`` or ``weekly`` (``off`` after an unsubscribe link), and the local day
    the last one went out (claimed under a row lock by the sending job, so one a day at most)."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (
        tenant_reference("user_id", "users", on_delete="cascade"),
        one_of("frequency", DIGEST_FREQUENCIES),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    frequency: Mapped[str] = mapped_column(String(10))
    last_sent_on: Mapped[date | None] = mapped_column(Date)
