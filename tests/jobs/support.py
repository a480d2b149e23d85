"""Running the job queue in tests: a procrastinate App on the test database and an in-process worker.

Both connect as the worker role, like ``python -m backend.worker``: the application role has
no access to the queue. Jobs run their CPU work in one CPU executor shared by the test session
(spawning executor workers per test would cost seconds each).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import IO, Any

import procrastinate
import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import PROJECT_ROOT, Settings
from backend.services.jobs import service as job_status
from backend.services.queue import JobKind, JobRuntime, Task, build_app, enqueue, worker_options
from backend.utils.compute import ComputePool
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from backend.worker import PERIODIC_TASKS, TASKS
from tests.services.connectors.fakes import free_port

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


async def run_fast_retry_jobs(settings: Settings, urls: DatabaseUrls, *queues: str) -> None:
    """Process the jobs waiting on ``queues`` in this process, their retries waiting no time."""
    await run_pending_jobs(fast_retry_settings(settings), urls, queues)


def worker_process(
    urls: DatabaseUrls,
    metrics_port: int,
    queues: str,
    secret_key: str,
    *,
    log: IO[bytes] | None = None,
    **environment: str,
) -> subprocess.Popen[bytes]:
    """``python -m backend.worker`` on ``queues`` (comma-separated, empty: all), loopback receivers
    allowed; ``secret_key``: the app's, from which the development credentials key derives;
    ``log``: where its output goes (inherited when None); ``environment``: more settings."""
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ENVIRONMENT": "test",
        "DATABASE_URL": urls.app,
        "DATABASE_WORKER_URL": urls.require_worker(),
        "DATABASE_OWNER_URL": urls.owner,
        "SECRET_KEY": secret_key,
        "CONNECTOR_ALLOW_PRIVATE_NETWORKS": "true",
        "WORKER_QUEUES": queues,
        "WORKER_METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "WARNING",
        **environment,
    }
    env.pop("CONNECTOR_ENCRYPTION_KEYS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "backend.worker"], env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log
    )


@contextmanager
def worker_running(
    urls: DatabaseUrls, metrics_port: int, queues: str, secret_key: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process for the block; killed at the end if it is still running."""
    process = worker_process(urls, metrics_port, queues, secret_key)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no handler runs, no transaction commits, the job stays 'doing' until found stalled."""
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


async def kill_worker_while_held(
    urls: DatabaseUrls,
    queues: str,
    secret_key: str,
    hold: tuple[threading.Event, threading.Event],
    what: str,
) -> None:
    """A worker on ``queues`` killed hard once its send is held at the receiver (``hold``: the
    receiver's *held* and *released* events); the receiver is released in any case."""
    held, released = hold
    try:
        with worker_running(urls, free_port(), queues, secret_key) as process:
            await wait_for(held.is_set, what, limit_seconds=120)
            kill_hard(process)
    finally:
        released.set()


async def wait_for(condition: Callable[[], bool], what: str, limit_seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class ProgressReport:
    """One progress report a job made, as the job status store received it."""

    job_id: uuid.UUID
    fraction: float
    message: str


def record_progress(monkeypatch: pytest.MonkeyPatch) -> list[ProgressReport]:
    """Every progress report stored from now on, in order (each still reaches the job's row)."""
    reports: list[ProgressReport] = []
    store = job_status.report_progress

    async def recording(session: AsyncSession, job_id: uuid.UUID, fraction: float, message: str) -> None:
        reports.append(ProgressReport(job_id, fraction, message))
        await store(session, job_id, fraction, message)

    monkeypatch.setattr(job_status, "report_progress", recording)
    return reports
