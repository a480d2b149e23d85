"""Background jobs: status of long-running work (connector syncs, batch computations)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from backend.dependencies import CurrentPrincipal, PageParams, TenantSession
from backend.schemas.common import Page
from backend.schemas.jobs import JobAccepted, JobRead, JobStatus
from backend.services.jobs import service
from backend.services.workload import Queued
from backend.utils.error_handlers import error_responses

Done = TypeVar("Done")
Answer = TypeVar("Answer")

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=error_responses(401, 403, 422))


@router.get("", summary="List jobs, newest first")
async def list_jobs(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    kind: Annotated[str | None, Query(max_length=100, description="Only jobs of this kind.")] = None,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    parent_id: Annotated[
        uuid.UUID | None, Query(description="Only the child jobs of this job (e.g. a batch's series).")
    ] = None,
) -> Page[JobRead]:
    """Background jobs of the tenant, newest first: filter by `kind`, `status` or `parent_id` (the child
    jobs of a batch). Each has its status, percent done, current message and, once finished, its result
    or a user-facing error."""
    jobs, total = await service.list_jobs(session, kind=kind, status=status, parent_id=parent_id, window=page)
    return Page.of([JobRead.model_validate(j) for j in jobs], total, page)


@router.get("/{job_id}", summary="A job's status", responses=error_responses(404))
async def get_job(job_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> JobRead:
    """Poll this after a 202: status (queued, running, succeeded, failed), progress, message, and the result
    (often naming the stored resource) or the error. 404 for an id that is not the tenant's."""
    return JobRead.model_validate(await service.get_job(session, job_id))


def job_accepted(queued: Queued) -> JSONResponse:
    """The 202 answer of an endpoint whose service queued its work as a background job."""
    body = JobAccepted(job_id=queued.job_id, status_url=queued.status_url, reason=queued.reason)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": queued.status_url},
    )


def background_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented answers of an endpoint that may queue its work: the 202, then ``statuses``."""
    queued = {"model": JobAccepted, "description": "Queued as a background job"}
    return {202: queued, **error_responses(*statuses)}


def done_or_accepted(outcome: Done | Queued, read: Callable[[Done], Answer]) -> Answer | JSONResponse:
    """``read(outcome)`` for work done within the request, the 202 for work queued as a job."""
    if isinstance(outcome, Queued):
        return job_accepted(outcome)
    return read(outcome)
