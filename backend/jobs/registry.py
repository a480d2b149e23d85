"""The task registry: features declare job kinds here; the procrastinate App is built from it.

    @job("connectors.sync", queue="connectors", max_attempts=3, lock=lambda p: f"sync:{p['source_id']}")
    async def sync(run: JobRun, payload: dict[str, Any]) -> dict[str, Any] | None: ...

A handler receives a ``JobRun`` (tenant, job id, attempt, database, progress reporting)
and the JSON payload; it returns a JSON result or raises. ``JobFailed`` is a clear,
final error (no retry); anything else is retried up to ``max_attempts``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backend.services.errors import OperationFailed

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.utils.database import Database

JobResultData = dict[str, Any] | None


class JobFailed(OperationFailed):
    """A job failed for a reason worth telling the client; not retried unless ``retryable``."""

    default_code = "job_failed"


@dataclass(frozen=True)
class JobRuntime:
    """What a worker hands every job: the settings and the database kit."""

    settings: Settings
    database: Database


@dataclass
class JobRun:
    """One attempt of one job, as its handler sees it."""

    kind: str
    tenant_id: uuid.UUID
    job_id: uuid.UUID
    attempt: int
    max_attempts: int
    runtime: JobRuntime
    _progress: Callable[[int, str | None], Awaitable[None]] = field(repr=False)

    @property
    def database(self) -> Database:
        return self.runtime.database

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def progress(self, percent: int, message: str | None = None) -> None:
        """Record progress (0–100) and a short message; committed at once so pollers see it."""
        await self._progress(percent, message)


Handler = Callable[[JobRun, dict[str, Any]], Awaitable[JobResultData]]


@dataclass(frozen=True)
class JobSpec:
    kind: str
    handler: Handler
    queue: str
    max_attempts: int
    # From the payload: procrastinate's lock (one running at a time) and queueing lock
    # (at most one waiting) for jobs that must not overlap, e.g. syncs of one source.
    lock: Callable[[dict[str, Any]], str] | None
    max_attempts_from_settings: Callable[[Settings], int] | None = None

    def attempts_allowed(self, settings: Settings) -> int:
        if self.max_attempts_from_settings is not None:
            return self.max_attempts_from_settings(settings)
        return self.max_attempts


@dataclass(frozen=True)
class PeriodicSpec:
    """A tenant-less maintenance task run on a cron schedule (e.g. the sync dispatcher)."""

    name: str
    cron: str
    handler: Callable[[JobRuntime, Any], Awaitable[None]]


JOBS: dict[str, JobSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}


def job(
    kind: str,
    *,
    queue: str = "default",
    max_attempts: int = 3,
    lock: Callable[[dict[str, Any]], str] | None = None,
    max_attempts_from_settings: Callable[[Settings], int] | None = None,
) -> Callable[[Handler], Handler]:
    """Register a job kind (its name is the procrastinate task name)."""

    def register(handler: Handler) -> Handler:
        if kind in JOBS and JOBS[kind].handler is not handler:
            raise ValueError(f"job kind {kind!r} is already registered")
        JOBS[kind] = JobSpec(kind, handler, queue, max_attempts, lock, max_attempts_from_settings)
        return handler

    return register


def periodic(name: str, *, cron: str) -> Callable[[Callable[[JobRuntime, Any], Awaitable[None]]], Any]:
    def register(handler: Callable[[JobRuntime, Any], Awaitable[None]]) -> Any:
        PERIODIC[name] = PeriodicSpec(name, cron, handler)
        return handler

    return register


def job_spec(kind: str) -> JobSpec:
    load_job_modules()
    try:
        return JOBS[kind]
    except KeyError:
        raise ValueError(f"unknown job kind {kind!r}") from None


# Modules that register jobs; imported when the App is built or a job is enqueued.
JOB_MODULES = (
    "backend.jobs.maintenance",
    "backend.services.connectors.jobs",
    "backend.services.evidence.jobs",
    "backend.services.optimizer.jobs",
    "backend.services.forecaster.jobs",
    "backend.services.benchmarks.jobs",
    "backend.services.metrics.upload_jobs",
)


def load_job_modules() -> None:
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)
