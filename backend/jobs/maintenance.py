"""Queue upkeep: jobs of workers that died (no heartbeat) are put back in the queue."""

from __future__ import annotations

from typing import Any

import structlog

from backend.jobs.registry import JobRuntime, periodic

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


@periodic("jobs.retry_stalled", cron="* * * * *")
async def retry_stalled(runtime: JobRuntime, app: Any) -> None:
    await retry_stalled_jobs(app, seconds_since_heartbeat=runtime.settings.jobs.stalled_worker_seconds)
