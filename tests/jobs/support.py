"""Running the job queue in tests: a procrastinate App on the test database and an in-process worker.

Both connect as the worker role, like ``python -m backend.worker``: the application role has
no access to the queue. Jobs run their CPU work in one CPU executor shared by the test session
(spawning executor workers per test would cost seconds each).
"""

from __future__ import annotations

import atexit
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
from pydantic import BaseModel

from backend.config import Settings
from backend.services.queue import JobKind, JobRuntime, Task, build_app, enqueue, worker_options
from backend.utils.compute import ComputePool
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from backend.worker import PERIODIC_TASKS, TASKS

TEST_COMPUTE_WORKERS = 2
_compute: ComputePool | None = None


def shared_compute() -> ComputePool:
    """The test session's CPU executor for job workers (started on first use, stopped at exit)."""
    global _compute
    if _compute is None:
        _compute = ComputePool(TEST_COMPUTE_WORKERS)
        atexit.register(_compute.shutdown)
    return _compute


def fast_retry_settings(settings: Settings, **connector_overrides: Any) -> Settings:
    """Settings whose retries wait no time (so a worker run with wait=False sees them)."""
    jobs = settings.jobs.model_copy(update={"retry_base_seconds": 0.0})
    connectors = settings.connectors.model_copy(update=connector_overrides)
    return settings.model_copy(update={"jobs": jobs, "connectors": connectors})


async def queue_job(
    database: Database, tenant_id: uuid.UUID, kind: JobKind[Any], payload: BaseModel
) -> uuid.UUID:
    """Enqueue ``payload`` for ``tenant_id`` in a unit of work of its own (committed here)."""
    async with database.tenant_session(tenant_id) as session:
        return await enqueue(session, kind, payload)


@asynccontextmanager
async def open_queue(
    settings: Settings, urls: DatabaseUrls, tasks: Sequence[Task[Any]] = TASKS
) -> AsyncIterator[procrastinate.App]:
    queue_app = build_app(settings, worker_url=urls.require_worker(), tasks=tasks, periodic=PERIODIC_TASKS)
    async with queue_app.open_async():
        yield queue_app


async def run_pending_jobs(
    settings: Settings, urls: DatabaseUrls, queues: Sequence[str], tasks: Sequence[Task[Any]] = TASKS
) -> None:
    """Process the jobs waiting on ``queues`` in this process, then return (procrastinate ``wait=False``)."""
    database = Database(urls.require_worker(), settings.database)
    try:
        async with open_queue(settings, urls, tasks) as queue_app:
            await queue_app.run_worker_async(
                **worker_options(
                    JobRuntime(settings, database, shared_compute()),
                    wait=False,
                    install_signal_handlers=False,
                    listen_notify=False,
                    queues=list(queues),
                    concurrency=1,
                )
            )
    finally:
        await database.dispose()
