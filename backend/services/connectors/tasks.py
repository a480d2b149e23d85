"""Connector tasks: the sync of one source, and the dispatcher that fires per-source schedules.

Syncs of one source never overlap: the job's lock (one running) and queueing lock (one
waiting) are the source id. The dispatcher runs every minute (a procrastinate periodic
task, itself single-flight), finds due sources across tenants through the
``connector_due_sources`` lookup, and queues a sync in each tenant's own session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from backend.services.connectors import repository, uploads
from backend.services.connectors.service import SYNC_JOB, SyncPayload, request_sync, schedule_next_sync
from backend.services.connectors.sync import run_sync
from backend.services.errors import Conflict, NotFound, ValidationFailed
from backend.services.queue import JobRun, JobRuntime, PeriodicTask, Task

logger = structlog.get_logger(__name__)


async def sync_data_source(run: JobRun, payload: SyncPayload) -> dict[str, Any]:
    return await run_sync(run, payload.source_id, payload.sync_id)


async def dispatch_due_syncs(runtime: JobRuntime, *, now: datetime | None = None) -> int:
    """Queue a sync for every source whose schedule is due; returns how many were queued."""
    now = now or datetime.now(UTC)
    queued = 0
    for tenant_id, source_id in await repository.due_sources(runtime.database, now):
        async with runtime.database.tenant_session(tenant_id) as session:
            source = await repository.source_by_id(session, source_id, for_update=True)
            if source is None or source.next_sync_at is None or source.next_sync_at > now:
                continue  # another dispatcher got there first
            try:
                await request_sync(session, source_id, trigger="schedule", requested_by=None)
                queued += 1
            except (Conflict, NotFound, ValidationFailed) as error:
                logger.info("scheduled_sync_skipped", data_source_id=str(source_id), reason=error.code)
            await schedule_next_sync(session, source)
    return queued


async def dispatch_schedules(runtime: JobRuntime, app: Any) -> None:
    await dispatch_due_syncs(runtime)


TASKS: tuple[Task[Any], ...] = (Task(SYNC_JOB, sync_data_source), *uploads.TASKS)
PERIODIC_TASKS = (PeriodicTask("connectors.dispatch_schedules", "* * * * *", dispatch_schedules),)
