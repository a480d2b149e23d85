"""Background jobs as the API sees them: one status row per job, tenant-scoped under RLS.

The queue itself (procrastinate's tables) lives in the ``procrastinate`` schema and is
not tenant data; this row is what a tenant polls.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, tenant_reference

JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class BackgroundJob(TenantEntityMixin, Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'succeeded', 'failed')", name="status_valid"),
        CheckConstraint("progress between 0 and 100", name="progress_range"),
        Index("ix_background_jobs_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_background_jobs_tenant_id_kind_status", "tenant_id", "kind", "status"),
        Index("ix_background_jobs_tenant_id_parent_id", "tenant_id", "parent_id"),
        tenant_reference("parent_id", "background_jobs", on_delete="cascade"),
    )

    kind: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="queued", server_default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    message: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[uuid.UUID | None]
    # The job that queued this one (a batch's child); the parent completes with its last child.
    parent_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
