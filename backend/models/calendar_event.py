"""Events a tenant marks on its calendar (a promotion, a closure, Black Friday)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin, tenant_reference


class CalendarEvent(TenantEntityMixin, TimestampMixin, Base):
    """One marked event over the days ``start_date``..``end_date`` (inclusive).

    ``metric`` scopes it to one metric's forecasts; ``None`` applies it to every metric. Events
    sharing a name are one regressor: the forecaster estimates the effect of "Black Friday" from
    its past occurrences and applies it to the marked future ones.
    """

    __tablename__ = "calendar_events"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        Index("ix_calendar_events_tenant_id_start_date", "tenant_id", "start_date"),
        tenant_reference("created_by", "users", on_delete="set null"),
    )

    name: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    metric: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[uuid.UUID | None]
