"""Insight tasks: the engine's run for one tenant, and the daily dispatcher.

The dispatcher runs every hour (a procrastinate periodic task, itself single-flight) and queues
a run for each tenant whose local time is then ``DAILY_LOCAL_HOUR`` (``insights_due_tenants``,
a worker-only lookup), so each tenant gets its run early in its own morning, once a day. Runs of
one tenant never overlap (the job's lock), and a run that repeats one stores nothing twice (the
insights' idempotency keys). The daily run then queues the digests due (``digest.queue_due``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import text

from backend.services.insights import digest
from backend.services.insights.service import RUN_JOB, InsightRun, run_engine
from backend.services.queue import JobRun, JobRuntime, PeriodicTask, Task, enqueue
from backend.services.queue.enqueue import JobAlreadyQueued
from backend.utils.database import Database

logger = structlog.get_logger(__name__)

DAILY_LOCAL_HOUR = 6


async def run_insights(run: JobRun, payload: InsightRun) -> dict[str, Any]:
    """The engine's run; the scheduled (daily) one then queues the digests due that local day."""
    async with run.database.tenant_session(run.tenant_id) as session:
        summary = await run_engine(session, run.compute, today=payload.today)
        digests = await digest.queue_due(session, summary.today) if payload.trigger == "schedule" else 0
    return {
        "today": summary.today.isoformat(),
        "scope": summary.scope,
        "metrics": summary.metrics,
        "found": summary.found,
        "created": summary.created,
        "by_type": summary.by_type,
        "skipped": summary.skipped,
        "alerts": summary.alerts,
        "digests": digests,
    }


async def due_tenants(database: Database, at: datetime, hour: int = DAILY_LOCAL_HOUR) -> list[uuid.UUID]:
    """Tenants whose local time at ``at`` is in hour ``hour`` (SECURITY DEFINER lookup)."""
    async with database.system_connection() as connection:
        rows = await connection.execute(
            text("select tenant_id from insights_due_tenants(:at, :hour)"), {"at": at, "hour": hour}
        )
        return [row.tenant_id for row in rows]


async def dispatch_daily_runs(runtime: JobRuntime, *, now: datetime | None = None) -> int:
    """Queue the daily run of every tenant whose local morning hour it is; how many were queued."""
    now = now or datetime.now(UTC)
    queued = 0
    for tenant_id in await due_tenants(runtime.database, now):
        try:
            async with runtime.database.tenant_session(tenant_id) as session:
                await enqueue(session, RUN_JOB, InsightRun(trigger="schedule"))
            queued += 1
        except JobAlreadyQueued:
            logger.info("insights_run_already_queued", tenant_id=str(tenant_id))
    return queued


async def dispatch_daily(runtime: JobRuntime, app: Any) -> None:
    await dispatch_daily_runs(runtime)


TASKS: tuple[Task[Any], ...] = (Task(RUN_JOB, run_insights), Task(digest.DIGEST_JOB, digest.send_digest))
PERIODIC_TASKS = (PeriodicTask("insights.dispatch_daily", "0 * * * *", dispatch_daily),)
