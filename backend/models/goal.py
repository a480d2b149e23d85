from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, Double, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin, tenant_reference


class GoalStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ACHIEVED = "achieved"
    MISSED = "missed"
    ABANDONED = "abandoned"


class SmartGoal(TenantEntityMixin, TimestampMixin, Base):
    """A SMART goal on a metric; its progress is computed from the metric, never stored by hand."""

    __tablename__ = "smart_goals"
    __table_args__ = (
        CheckConstraint(
            "status in (" + ", ".join(f"'{s.value}'" for s in GoalStatus) + ")", name="status_valid"
        ),
        CheckConstraint("deadline > start_date", name="deadline_after_start"),
        tenant_reference("owner_id", "users", on_delete="set null"),
        tenant_reference("parent_id", "smart_goals", on_delete="set null"),
        Index("ix_smart_goals_tenant_id_status", "tenant_id", "status"),
        Index("ix_smart_goals_tenant_id_metric", "tenant_id", "metric"),
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(String(100))
    aggregation: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    target_value: Mapped[float] = mapped_column(Double)
    baseline_value: Mapped[float | None] = mapped_column(Double)
    start_date: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=GoalStatus.DRAFT, server_default=GoalStatus.DRAFT)
    owner_id: Mapped[uuid.UUID | None]
    parent_id: Mapped[uuid.UUID | None]
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
