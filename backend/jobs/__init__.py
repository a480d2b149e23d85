"""The background job kit (procrastinate, jobs in PostgreSQL).

- ``@job(kind, ...)`` registers a handler ``async (run: JobRun, payload) -> result``;
- ``await enqueue(session_or_database, tenant_id, kind, payload)`` queues it and returns
  the id of its tenant-scoped status row (``GET /api/v1/jobs/{id}``);
- ``build_app(settings, worker_url=...)`` is the procrastinate App a worker runs
  (``python -m backend.worker``).
"""

from backend.jobs.app import build_app, conninfo_from_url, worker_options
from backend.jobs.enqueue import JobAlreadyQueued, enqueue
from backend.jobs.registry import JobFailed, JobRun, JobRuntime, job, periodic

__all__ = [
    "JobAlreadyQueued",
    "JobFailed",
    "JobRun",
    "JobRuntime",
    "build_app",
    "conninfo_from_url",
    "enqueue",
    "job",
    "periodic",
    "worker_options",
]
