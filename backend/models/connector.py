"""Connector sync runs: one row per sync of a data source (history, status, points written)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, tenant_reference

SYNC_STATUSES = ("queued", "running", "succeeded", "failed")
SYNC_TRIGGERS = ("manual", "schedule", "upload")


class ConnectorSync(TenantEntityMixin, Base):
    __tablename__ = "connector_syncs"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'succeeded', 'failed')", name="status_valid"),
        CheckConstraint("trigger in ('manual', 'schedule', 'upload')", name="trigger_valid"),
        tenant_reference("data_source_id", "data_sources", on_delete="cascade"),
        tenant_reference("job_id", "background_jobs", on_delete="set null"),
        Index(
            "ix_connector_syncs_tenant_id_data_source_id_created_at",
            "tenant_id",
            "data_source_id",
            "created_at",
        ),
    )

    data_source_id: Mapped[uuid.UUID]
    job_id: Mapped[uuid.UUID | None]
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued", server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    records_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    points_written: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cursor_before: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    cursor_after: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
