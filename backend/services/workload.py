"""The workload kit: the one place that decides whether work runs in the request or as a job.

A feature states its synchronous limits as ``SizeRule``s (what is counted in the request, the
threshold and why it is there), its job kinds with typed payloads (``backend.services.queue``),
and calls ``run_or_queue``: the work runs now and its result is returned, or it is queued and a
``Queued`` handle (job id and the reason) comes back. Work that is always a job (connector syncs,
forecast batches, benchmark imports) is queued with ``queue``. Routes never decide; they map a
result to 200/201 and a ``Queued`` to 202 with ``Location: /api/v1/jobs/{id}``.

Tasks report progress with ``JobRun.progress(fraction, message)``; CPU code running in the
executor reports through ``ComputePool.run_reporting``. A task whose work splits into independent
parts (a batch forecast: one series each) queues them as child jobs with ``fan_out``, so every
worker process on every host takes a share, and its job reports the share of children finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.jobs import repository as job_rows
from backend.services.jobs import service as job_status
from backend.services.queue import FannedOut, JobKind, JobRun, enqueue
from backend.services.queue.registry import P

R = TypeVar("R")
T = TypeVar("T")

REQUESTED = "requested"
"""The reason of a job the client asked for (``async: true``)."""


@dataclass(frozen=True)
class SizeRule(Generic[R]):
    """The largest request ``feature`` runs synchronously: ``size(request)`` counted in ``unit``, at most
    ``limit``. ``why`` says where the limit comes from (a measurement, a cost model)."""

    feature: str
    unit: str
    limit: int
    size: Callable[[R], int]
    why: str
    describe: Callable[[R, int], str] | None = None

    def reason(self, request: R) -> str | None:
        """Why ``request`` is beyond this rule, or None when it is within it."""
        size = self.size(request)
        if size <= self.limit:
            return None
        if self.describe is not None:
            return self.describe(request, size)
        return f"{self.feature} with {size} {self.unit} is beyond the synchronous limit of {self.limit}"


def queue_reason(rules: Sequence[SizeRule[R]], request: R) -> str | None:
    """The first of ``rules`` that ``request`` breaks, as a reason to queue it, or None to run it now."""
    for rule in rules:
        reason = rule.reason(request)
        if reason is not None:
            return reason
    return None


@dataclass(frozen=True)
class Requester:
    """Who asks for a piece of work, and whether they ask for it to run as a job (``async: true``)."""

    user_id: uuid.UUID | None = None
    wants_job: bool = False

    def queue_reason(self, size_reason: str | None) -> str | None:
        """Why the work runs as a job: asked for, else ``size_reason`` (a size rule it breaks), else None."""
        return REQUESTED if self.wants_job else size_reason


SYSTEM = Requester()
"""Work no user asked for (schedules, the coach's own tool calls run in the request when small)."""


@dataclass(frozen=True)
class Queued:
    """A job handle: the work was queued; poll ``status_url``."""

    job_id: uuid.UUID
    reason: str

    @property
    def status_url(self) -> str:
        return f"/api/v1/jobs/{self.job_id}"


async def queue(
    session: AsyncSession,
    kind: JobKind[P],
    payload: P,
    *,
    reason: str,
    requested_by: uuid.UUID | None,
) -> Queued:
    """Queue ``payload`` as a job of ``kind`` for the session's tenant (in the request's transaction)."""
    job_id = await enqueue(session, kind, payload, created_by=requested_by)
    return Queued(job_id, reason)


async def run_or_queue(
    session: AsyncSession,
    requester: Requester,
    *,
    reason: str | None,
    run: Callable[[], Awaitable[T]],
    kind: JobKind[P],
    payload: Callable[[], P],
) -> T | Queued:
    """``run()`` now unless the requester asks for a job or there is a size ``reason`` to queue
    (see ``queue_reason``); otherwise queue ``payload()`` as a job of ``kind`` and return its handle."""
    reason = requester.queue_reason(reason)
    if reason is None:
        return await run()
    return await queue(session, kind, payload(), reason=reason, requested_by=requester.user_id)


async def fan_out(run: JobRun, kind: JobKind[P], payloads: Sequence[P]) -> FannedOut:
    """Queue one child job of ``kind`` per payload for ``run``'s job, all in one transaction.

    The handler returns the handle: the job stays running and completes when its last child
    finishes (``backend.services.jobs.service.settle``). An attempt that runs again after its
    children were queued (a worker that died before recording the end) queues nothing new.
    """
    async with run.database.tenant_session(run.tenant_id) as session:
        parent = await job_rows.lock_job(session, run.job_id)
        if parent is None:
            raise RuntimeError(f"job {run.job_id} has no status row to fan out from")
        queued, _ = await job_rows.child_counts(session, run.job_id, job_status.FINAL_STATUSES)
        if queued:
            return FannedOut(queued)
        for payload in payloads:
            await enqueue(session, kind, payload, created_by=parent.created_by, parent_id=run.job_id)
        await job_status.report_progress(session, run.job_id, 0.0, f"{len(payloads)} child jobs queued")
    return FannedOut(len(payloads))
