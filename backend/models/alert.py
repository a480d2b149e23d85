"""Alerts: rules, delivery channels, raised alerts, the delivery outbox and its attempt log."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    true,
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
from backend.services.alerts.types import ATTEMPT_OUTCOMES, CHANNEL_KINDS, DELIVERY_STATUSES, RULE_KINDS


class AlertChannel(TenantEntityMixin, TimestampMixin, Base):
    """Where alerts go. ``sealed_config`` holds the URL and signing secret, AES-GCM encrypted (the
    signer needs the secret itself, so a one-way hash cannot be used); ``display_target`` is what
    the API shows (the URL's host, or the email address)."""

    __tablename__ = "alert_channels"
    __table_args__ = (
        tenant_reference("created_by", "users", on_delete="set null"),
        one_of("kind", CHANNEL_KINDS),
        UniqueConstraint("tenant_id", "name"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    display_target: Mapped[str] = mapped_column(String(300))
    sealed_config: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[uuid.UUID | None]


class AlertRule(TenantEntityMixin, TimestampMixin, Base):
    """A rule: a user's own (``user_id``) or the tenant's (``user_id`` None)."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        tenant_reference("user_id", "users", on_delete="cascade"),
        ForeignKeyConstraint(
            ["tenant_id", "metric"],
            ["metric_definitions.tenant_id", "metric_definitions.name"],
            ondelete="CASCADE",
        ),
        one_of("kind", RULE_KINDS),
        CheckConstraint("(quiet_start is null) = (quiet_end is null)", name="quiet_hours_paired"),
        Index("ix_alert_rules_tenant_id_user_id", "tenant_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    metric: Mapped[str | None] = mapped_column(String(100))
    operator: Mapped[str | None] = mapped_column(String(5))
    threshold: Mapped[float | None] = mapped_column(Float)
    min_severity: Mapped[str] = mapped_column(String(10), server_default="low")
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(server_default=true())


class AlertRuleChannel(TenantMixin, Base):
    __tablename__ = "alert_rule_channels"
    __table_args__ = (
        tenant_reference("rule_id", "alert_rules", on_delete="cascade"),
        tenant_reference("channel_id", "alert_channels", on_delete="cascade"),
        Index("ix_alert_rule_channels_tenant_id_channel_id", "tenant_id", "channel_id"),
    )

    rule_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class Alert(TenantEntityMixin, CreatedAtMixin, Base):
    """A rule fired for a subject (a metric, a goal, a connector) in a period: once, whatever reruns."""

    __tablename__ = "alerts"
    __table_args__ = (
        tenant_reference("rule_id", "alert_rules", on_delete="cascade"),
        tenant_reference("insight_id", "insights", on_delete="set null"),
        UniqueConstraint("tenant_id", "rule_id", "subject", "period_key"),
        Index("ix_alerts_tenant_id_created_at", "tenant_id", "created_at"),
    )

    rule_id: Mapped[uuid.UUID]
    insight_id: Mapped[uuid.UUID | None]
    subject: Mapped[str] = mapped_column(String(200))
    period_key: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(10))
    sentence: Mapped[str] = mapped_column(Text)


class AlertDelivery(TenantEntityMixin, CreatedAtMixin, Base):
    """The outbox: one row per alert and channel, sent once (``status`` moves past pending once)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        tenant_reference("alert_id", "alerts", on_delete="cascade"),
        tenant_reference("channel_id", "alert_channels", on_delete="cascade"),
        one_of("status", DELIVERY_STATUSES),
        UniqueConstraint("tenant_id", "alert_id", "channel_id"),
        Index("ix_alert_deliveries_tenant_id_channel_id_created_at", "tenant_id", "channel_id", "created_at"),
    )

    alert_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    deliver_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None]


class AlertDeliveryAttempt(TenantEntityMixin, CreatedAtMixin, Base):
    """One attempt of one delivery, as the channel's log shows it."""

    __tablename__ = "alert_delivery_attempts"
    __table_args__ = (
        tenant_reference("delivery_id", "alert_deliveries", on_delete="cascade"),
        tenant_reference("channel_id", "alert_channels", on_delete="cascade"),
        one_of("outcome", ATTEMPT_OUTCOMES),
        Index(
            "ix_alert_delivery_attempts_tenant_id_channel_id_created_at",
            "tenant_id",
            "channel_id",
            "created_at",
        ),
    )

    delivery_id: Mapped[uuid.UUID]
    channel_id: Mapped[uuid.UUID]
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))
    status_code: Mapped[int | None]
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
