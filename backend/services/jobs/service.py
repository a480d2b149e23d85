"""Job status rules: the transitions a job's status row goes through.

queued → running → succeeded | failed; a failed attempt that will be retried goes back to
queued with the attempt's error kept, so a client sees why it is being retried.

A job may fan out into child jobs (``backend.services.workload.fan_out``): it then stays
``running`` after its own handler returned, its progress is the share of its children that
finished (succeeded or failed for good), and the child that finishes last completes it with a
result summarising every child (``settle``), so a failed child is reported and the others stand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BackgroundJob
from backend.services.jobs import repository
from backend.utils.repository import get_or_404

MAX_MESSAGE_LENGTH = 500
FINAL_STATUSES = ("succeeded", "failed")


def _now() -> datetime:
    return datetime.now(UTC)


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> BackgroundJob:
    return await get_or_404(session, BackgroundJob, job_id, "Job not found", {"job_id": str(job_id)})


# Listing applies no rule beyond the query, so the service offers the repository's.
list_jobs = repository.list_jobs


def new_job(
    tenant_id: uuid.UUID,
    kind: str,
    payload: dict[str, Any],
    *,
    created_by: uuid.UUID | None,
    parent_id: uuid.UUID | None = None,
) -> BackgroundJob:
    return BackgroundJob(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        status="queued",
        progress=0,
        payload=payload,
        created_by=created_by,
        parent_id=parent_id,
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


@dataclass(frozen=True)
class ChildJob:
    """A finished child job, as its parent's summary sees it."""

    id: uuid.UUID
    kind: str
    status: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class ChildRule:
    """How a job that fans out reports its children: ``unit`` names them in its progress message
    ("3 of 10 series done"), ``summarize`` turns the finished children into its result."""

    unit: str
    summarize: Callable[[Sequence[ChildJob]], dict[str, Any]]


def _default_summary(children: Sequence[ChildJob]) -> dict[str, Any]:
    failed = [child for child in children if child.status == "failed"]
    return {"children": len(children), "failed": len(failed)}


async def children_of(session: AsyncSession, parent_id: uuid.UUID) -> list[BackgroundJob]:
    return await repository.children_of(session, parent_id)


async def settle(session: AsyncSession, parent_id: uuid.UUID, rules: Mapping[str, ChildRule]) -> None:
    """Bring ``parent_id`` up to date with its children: progress, or its result once all finished.

    Runs in the transaction that finished a child (or queued them all), with the parent's row
    locked, so two children finishing at once settle it one after the other and exactly one
    of them sees every child finished. A parent already succeeded or failed is left alone.
    """
    parent = await repository.lock_job(session, parent_id)
    if parent is None or parent.status in FINAL_STATUSES:
        return
    rule = rules.get(parent.kind)
    total, finished = await repository.child_counts(session, parent_id, FINAL_STATUSES)
    unit = rule.unit if rule else "child jobs"
    if finished < total:
        await report_progress(session, parent_id, finished / total, f"{finished} of {total} {unit} done")
        return
    children = [
        ChildJob(child.id, child.kind, child.status, child.payload, child.result, child.error)
        for child in await repository.children_of(session, parent_id)
    ]
    summary = rule.summarize(children) if rule else _default_summary(children)
    await report_progress(session, parent_id, 1.0, f"{total} of {total} {unit} done")
    await mark_succeeded(session, parent_id, summary)


async def settle_parent_of(
    session: AsyncSession, child_id: uuid.UUID, rules: Mapping[str, ChildRule]
) -> None:
    """``settle`` the parent of ``child_id``, which has just finished for good (nothing without a parent)."""
    parent_id = await repository.parent_of(session, child_id)
    if parent_id is not None:
        await settle(session, parent_id, rules)
