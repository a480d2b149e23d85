"""Running the job queue in tests: a procrastinate App on the test database and an in-process worker.

Both connect as the worker role, like ``python -m backend.worker``: the application role has
no access to the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import procrastinate

from backend.config import Settings
from backend.jobs import JobRuntime, build_app, worker_options
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls


def fast_retry_settings(settings: Settings, **connector_overrides: Any) -> Settings:
    """Settings whose retries wait no time (so a worker run with wait=False sees them)."""
    jobs = settings.jobs.model_copy(update={"retry_base_seconds": 0.0})
    connectors = settings.connectors.model_copy(update=connector_overrides)
    return settings.model_copy(update={"jobs": jobs, "connectors": connectors})


@asynccontextmanager
async def open_queue(settings: Settings, urls: DatabaseUrls) -> AsyncIterator[procrastinate.App]:
    queue_app = build_app(settings, worker_url=urls.require_worker())
    async with queue_app.open_async():
        yield queue_app


async def run_pending_jobs(settings: Settings, urls: DatabaseUrls, queues: Sequence[str]) -> None:
    """Process the jobs waiting on ``queues`` in this process, then return (procrastinate ``wait=False``)."""
    database = Database(urls.require_worker(), settings.database)
    try:
        async with open_queue(settings, urls) as queue_app:
            await queue_app.run_worker_async(
                **worker_options(
                    JobRuntime(settings, database),
                    wait=False,
                    install_signal_handlers=False,
                    listen_notify=False,
                    queues=list(queues),
                    concurrency=1,
                )
            )
    finally:
        await database.dispose()
