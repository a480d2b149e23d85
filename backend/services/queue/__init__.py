"""The job queue plumbing (procrastinate, jobs in PostgreSQL).

- ``JobKind(name, PayloadModel, ...)`` declares a kind of job and its typed payload;
  ``Task(kind, handler)`` pairs it with ``async (run: JobRun, payload) -> result``;
- ``await enqueue(session, kind, payload)`` queues it for the session's tenant and returns the id
  of its tenant-scoped status row (``GET /api/v1/jobs/{id}``); features go through
  ``backend.services.workload``, which decides whether to queue at all;
- ``build_app(settings, worker_url=..., tasks=...)`` is the procrastinate App a worker runs
  (``python -m backend.worker``).
"""

from backend.services.queue.app import build_app, conninfo_from_url, worker_options
from backend.services.queue.enqueue import JobAlreadyQueued, enqueue
from backend.services.queue.registry import (
    FannedOut,
    JobFailed,
    JobKind,
    JobRun,
    JobRuntime,
    PeriodicTask,
    Task,
)

__all__ = [
    "FannedOut",
    "JobAlreadyQueued",
    "JobFailed",
    "JobKind",
    "JobRun",
    "JobRuntime",
    "PeriodicTask",
    "Task",
    "build_app",
    "conninfo_from_url",
    "enqueue",
    "worker_options",
]
