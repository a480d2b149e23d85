"""Every query of the jobs feature (tenant-scoped; RLS plus the tenant in every WHERE)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BackgroundJob
from backend.utils.repository import PageWindow, paginate, tenant_filter, tenant_select, where_given


async def list_jobs(
    session: AsyncSession, window: PageWindow, *, kind: str | None, status: str | None
) -> tuple[list[BackgroundJob], int]:
    statement = where_given(
        tenant_select(session, BackgroundJob), (BackgroundJob.kind, kind), (BackgroundJob.status, status)
    )
    order = (BackgroundJob.created_at.desc(), BackgroundJob.id)
    return await paginate(session, statement, order_by=order, window=window)


async def update_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(BackgroundJob)
        .where(tenant_filter(session, BackgroundJob), BackgroundJob.id == job_id)
        .values(**values)
    )
