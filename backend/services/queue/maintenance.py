"""Queue upkeep: jobs of workers that died (no heartbeat) are put back in the queue, and the
queue's rows of long-finished jobs are deleted."""

from __future__ import annotations

from typing import Any

import structlog

from backend.services.queue.registry import JobRuntime, PeriodicTask

logger = structlog.get_logger(__name__)


async def retry_stalled_jobs(app: Any, *, seconds_since_heartbeat: float) -> int:
    """Retry the running jobs of workers silent for ``seconds_since_heartbeat``; returns how many."""
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        await app.job_manager.retry_job(job)
    if stalled:
        logger.warning(
            "stalled_jobs_retried", count=len(stalled), tasks=sorted({job.task_name for job in stalled})
        )
    return len(stalled)


async def retry_stalled(runtime: JobRuntime, app: Any) -> None:
    await retry_stalled_jobs(app, seconds_since_heartbeat=runtime.settings.jobs.stalled_worker_seconds)


async def remove_finished_jobs(app: Any, *, older_than_hours: int) -> None:
    """Delete the queue rows (and their events) of jobs that ended — succeeded, failed, cancelled
    or aborted — more than ``older_than_hours`` ago. ``background_jobs``, what tenants poll, stays."""
    await app.job_manager.delete_old_jobs(
        nb_hours=older_than_hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


async def remove_finished(runtime: JobRuntime, app: Any) -> None:
    await remove_finished_jobs(app, older_than_hours=runtime.settings.jobs.keep_finished_hours)


MAINTENANCE_TASKS = (
    PeriodicTask("jobs.retry_stalled", "* * * * *", retry_stalled),
    PeriodicTask("jobs.remove_finished", "23 * * * *", remove_finished),
)
