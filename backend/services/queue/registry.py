"""Job kinds and tasks: what a feature declares to run work on the queue.

A feature declares each kind of job once, with the pydantic model of its payload:

    SYNC_JOB = JobKind("connectors.sync", SyncPayload, queue="connectors", lock=lambda p: str(p.source_id))

The service queues it (``backend.services.workload``), and the feature's ``tasks.py`` pairs it
with its handler, ``Task(SYNC_JOB, sync_data_source)``; the worker lists every feature's tasks
explicitly (``backend.worker.TASKS``), so mypy sees every handler and nothing is imported by name.

A handler receives a ``JobRun`` (tenant, job id, attempt, database, the compute pool, progress)
and its payload, already validated into the kind's model; it returns a JSON result or raises.
``JobFailed`` is a clear, final error (no retry); anything else is retried up to ``max_attempts``.
A handler that queued child jobs (``backend.services.workload.fan_out``) returns their
``FannedOut`` handle instead: its job completes when its last child does (``JobKind.children``
says how the children are counted and summarised).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from backend.services.errors import DyocenseError, OperationFailed
from backend.services.jobs.service import ChildRule

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.utils.compute import ComputePool
    from backend.utils.database import Database

JobResultData = dict[str, Any] | None
P = TypeVar("P", bound=BaseModel)


class JobFailed(OperationFailed):
    """A job failed for a reason worth telling the client; not retried unless ``retryable``."""

    default_code = "job_failed"

    @classmethod
    def of(cls, error: DyocenseError) -> JobFailed:
        """The same code, message and details a request would have answered with, as a final failure."""
        return cls(error.message, code=error.code, problems=error.problems)


@dataclass(frozen=True)
class JobKind(Generic[P]):
    """One kind of job: its name (the procrastinate task name), payload model, queue and retry rule."""

    name: str
    payload: type[P]
    queue: str = "default"
    max_attempts: int = 3
    # From the payload: procrastinate's lock (one running at a time) and queueing lock
    # (at most one waiting) for jobs that must not overlap, e.g. syncs of one source.
    lock: Callable[[P], str] | None = None
    max_attempts_from_settings: Callable[[Settings], int] | None = None
    # For a kind whose handler fans out: how its children are named and summarised.
    children: ChildRule | None = None

    def attempts_allowed(self, settings: Settings) -> int:
        if self.max_attempts_from_settings is not None:
            return self.max_attempts_from_settings(settings)
        return self.max_attempts

    def dump(self, payload: P) -> dict[str, Any]:
        """The payload as stored in the queue and in the job's status row (JSON)."""
        return payload.model_dump(mode="json")

    def load(self, data: dict[str, Any]) -> P:
        """The payload a handler receives, validated back into the kind's model."""
        return self.payload.model_validate(data)


@dataclass(frozen=True)
class JobRuntime:
    """What a worker hands every job: the settings, the database kit and the CPU executor."""

    settings: Settings
    database: Database
    compute: ComputePool


ProgressWriter = Callable[[float, str], Awaitable[None]]


@dataclass
class JobRun:
    """One attempt of one job, as its handler sees it."""

    kind: str
    tenant_id: uuid.UUID
    job_id: uuid.UUID
    attempt: int
    max_attempts: int
    runtime: JobRuntime
    _progress: ProgressWriter = field(repr=False)

    @property
    def database(self) -> Database:
        return self.runtime.database

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def compute(self) -> ComputePool:
        """The worker's CPU executor: every CPU-bound step of a task runs there."""
        return self.runtime.compute

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def progress(self, fraction: float, message: str) -> None:
        """Record how far the job is (0.0–1.0) and what it is doing; committed at once so pollers see it."""
        await self._progress(fraction, message)


@dataclass(frozen=True)
class FannedOut:
    """What a handler returns after queuing ``children`` child jobs: the job is done when they are."""

    children: int


Handler = Callable[[JobRun, P], Awaitable[JobResultData | FannedOut]]


@dataclass(frozen=True)
class Task(Generic[P]):
    """A job kind and the handler a worker runs for it."""

    kind: JobKind[P]
    handler: Handler[P]


@dataclass(frozen=True)
class PeriodicTask:
    """A tenant-less maintenance task run on a cron schedule (e.g. the sync dispatcher)."""

    name: str
    cron: str
    handler: Callable[[JobRuntime, Any], Awaitable[None]]
