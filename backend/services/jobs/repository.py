"""Every query of the jobs feature (tenant-scoped; RLS plus the tenant in every WHERE)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BackgroundJob
from backend.utils.repository import (
    PageWindow,
    paginate,
    tenant_filter,
    tenant_one,
    tenant_select,
    where_given,
)


async def list_jobs(
    session: AsyncSession,
    window: PageWindow,
    *,
    kind: str | None,
    status: str | None,
    parent_id: uuid.UUID | None = None,
) -> tuple[list[BackgroundJob], int]:
    statement = where_given(
        tenant_select(session, BackgroundJob),
        (BackgroundJob.kind, kind),
        (BackgroundJob.status, status),
        (BackgroundJob.parent_id, parent_id),
    )
    order = (BackgroundJob.created_at.desc(), BackgroundJob.id)
    return await paginate(session, statement, order_by=order, window=window)


async def update_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(BackgroundJob)
        .where(tenant_filter(session, BackgroundJob), BackgroundJob.id == job_id)
        .values(**values)
    )


async def parent_of(session: AsyncSession, job_id: uuid.UUID) -> uuid.UUID | None:
    """The id of the job that queued ``job_id`` (None for a job no other job queued)."""
    statement = select(BackgroundJob.parent_id).where(
        tenant_filter(session, BackgroundJob), BackgroundJob.id == job_id
    )
    parent_id: uuid.UUID | None = await session.scalar(statement)
    return parent_id


async def lock_job(session: AsyncSession, job_id: uuid.UUID) -> BackgroundJob | None:
    """The job's row, locked until the transaction ends (its children settle it one at a time)."""
    return await tenant_one(session, BackgroundJob, BackgroundJob.id == job_id, lock=True)


async def child_counts(session: AsyncSession, parent_id: uuid.UUID, final: Sequence[str]) -> tuple[int, int]:
    """How many children ``parent_id`` has, and how many of them are in a ``final`` status."""
    statement = select(func.count(), func.count().filter(BackgroundJob.status.in_(final))).where(
        tenant_filter(session, BackgroundJob), BackgroundJob.parent_id == parent_id
    )
    total, finished = (await session.execute(statement)).one()
    return int(total), int(finished)


async def children_of(session: AsyncSession, parent_id: uuid.UUID) -> list[BackgroundJob]:
    """Every child of ``parent_id`` (children queued together share a ``created_at``)."""
    statement = (
        tenant_select(session, BackgroundJob)
        .where(BackgroundJob.parent_id == parent_id)
        .order_by(BackgroundJob.created_at, BackgroundJob.id)
    )
    return list((await session.scalars(statement)).all())
