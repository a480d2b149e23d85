"""Job status rules: the transitions a job's status row goes through.

queued → running → succeeded | failed; a failed attempt that will be retried goes back to
queued with the attempt's error kept, so a client sees why it is being retried.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BackgroundJob
from backend.services.jobs import repository
from backend.utils.repository import PageWindow, get_or_404

MAX_MESSAGE_LENGTH = 500


def _now() -> datetime:
    return datetime.now(UTC)


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> BackgroundJob:
    return await get_or_404(session, BackgroundJob, job_id, "Job not found", {"job_id": str(job_id)})


async def list_jobs(
    session: AsyncSession, window: PageWindow, *, kind: str | None, status: str | None
) -> tuple[list[BackgroundJob], int]:
    return await repository.list_jobs(session, window, kind=kind, status=status)


def new_job(
    tenant_id: uuid.UUID, kind: str, payload: dict[str, Any], *, created_by: uuid.UUID | None
) -> BackgroundJob:
    return BackgroundJob(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        status="queued",
        progress=0,
        payload=payload,
        created_by=created_by,
    )


async def mark_running(session: AsyncSession, job_id: uuid.UUID, *, attempt: int) -> None:
    await repository.update_job(
        session,
        job_id,
        status="running",
        attempts=attempt,
        started_at=_now(),
        finished_at=None,
        message=None if attempt == 1 else f"attempt {attempt}",
    )


async def report_progress(session: AsyncSession, job_id: uuid.UUID, fraction: float, message: str) -> None:
    """Store a job's progress: ``fraction`` of the work done (0.0–1.0, shown as a percentage)."""
    percent = round(max(0.0, min(1.0, fraction)) * 100)
    await repository.update_job(session, job_id, progress=percent, message=message[:MAX_MESSAGE_LENGTH])


async def mark_succeeded(session: AsyncSession, job_id: uuid.UUID, result: dict[str, Any] | None) -> None:
    await repository.update_job(
        session,
        job_id,
        status="succeeded",
        progress=100,
        result=result,
        error=None,
        finished_at=_now(),
    )


async def mark_failed(
    session: AsyncSession, job_id: uuid.UUID, error: dict[str, Any], *, will_retry: bool, attempt: int
) -> None:
    if will_retry:
        await repository.update_job(
            session,
            job_id,
            status="queued",
            error=error,
            message=f"attempt {attempt} failed; it will be retried",
        )
    else:
        await repository.update_job(
            session, job_id, status="failed", error=error, finished_at=_now(), message="failed"
        )
