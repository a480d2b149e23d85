from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    func,
)
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
        CheckConstraint("direction in ('increase', 'decrease')", name="direction_valid"),
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
    # Which side of the target is good: "increase" (at or above) or "decrease" (at or below). Stated
    # by the goal or its metric's favourable direction, never guessed from baseline vs target.
    direction: Mapped[str] = mapped_column(String(8))
    target_value: Mapped[float] = mapped_column(Double)
    baseline_value: Mapped[float | None] = mapped_column(Double)
    start_date: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=GoalStatus.DRAFT, server_default=GoalStatus.DRAFT)
    owner_id: Mapped[uuid.UUID | None]
    parent_id: Mapped[uuid.UUID | None]
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GoalStatusChange(TenantEntityMixin, Base):
    """One change of a goal's computed status (its signal), recorded when progress is computed."""

    __tablename__ = "goal_status_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "goal_id"], ["smart_goals.tenant_id", "smart_goals.id"], ondelete="CASCADE"
        ),
        Index("ix_goal_status_history_tenant_id_goal_id_recorded_at", "tenant_id", "goal_id", "recorded_at"),
    )

    goal_id: Mapped[uuid.UUID]
    signal: Mapped[str] = mapped_column(String(20))
    previous_signal: Mapped[str | None] = mapped_column(String(20))
    percent_complete: Mapped[float | None] = mapped_column(Double)
    current_value: Mapped[float | None] = mapped_column(Double)
    expected_at_deadline: Mapped[float | None] = mapped_column(Double)
    projection_method: Mapped[str | None] = mapped_column(String(10))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
