"""Every query of the jobs feature (tenant-scoped; RLS plus the tenant in every WHERE)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BackgroundJob
from backend.utils.database import session_tenant


async def job_by_id(session: AsyncSession, job_id: uuid.UUID) -> BackgroundJob | None:
    return await session.get(BackgroundJob, (session_tenant(session), job_id))


async def list_jobs(
    session: AsyncSession, *, kind: str | None, status: str | None, limit: int, offset: int
) -> tuple[list[BackgroundJob], int]:
    conditions: list[Any] = [BackgroundJob.tenant_id == session_tenant(session)]
    if kind is not None:
        conditions.append(BackgroundJob.kind == kind)
    if status is not None:
        conditions.append(BackgroundJob.status == status)
    total = await session.scalar(select(func.count()).select_from(BackgroundJob).where(*conditions))
    rows = await session.scalars(
        select(BackgroundJob)
        .where(*conditions)
        .order_by(BackgroundJob.created_at.desc(), BackgroundJob.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def update_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.tenant_id == session_tenant(session), BackgroundJob.id == job_id)
        .values(**values)
    )
