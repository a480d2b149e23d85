"""The procrastinate App, built from settings and the tasks the caller lists (``backend.worker.TASKS``).

Procrastinate's tables live in the ``procrastinate`` schema (revision 20261126_04); its
connections use the worker role (revision 20261204_02: the application role has no access
to the queue) with ``search_path=procrastinate``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import procrastinate
import structlog
from procrastinate import JobContext, RetryDecision
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from psycopg.conninfo import make_conninfo
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from backend.config import Settings
from backend.services.jobs import service as job_status
from backend.services.jobs.service import ChildRule
from backend.services.queue.maintenance import MAINTENANCE_TASKS
from backend.services.queue.registry import (
    FannedOut,
    JobFailed,
    JobKind,
    JobRun,
    JobRuntime,
    P,
    PeriodicTask,
    Task,
)
from backend.utils.observability import job_span
from backend.utils.prometheus import JOB_DURATION, JOB_RUNS

logger = structlog.get_logger(__name__)

QUEUE_SCHEMA = "procrastinate"
RUNTIME_KEY = "runtime"
MAX_ERROR_MESSAGE = 500


def conninfo_from_url(url: str, *, application_name: str = "dyocense-worker") -> str:
    """A psycopg conninfo for a SQLAlchemy URL (``postgresql+asyncpg://…``), on the queue schema."""
    parsed = make_url(url)
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "dbname": parsed.database,
        "user": parsed.username,
        "password": parsed.password,
        "application_name": application_name,
        "options": f"-c search_path={QUEUE_SCHEMA}",
    }
    ssl = parsed.query.get("sslmode") or parsed.query.get("ssl")
    if isinstance(ssl, str):
        params["sslmode"] = {"true": "require", "false": "disable"}.get(ssl, ssl)
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})


UNEXPECTED_JOB_ERROR = "The job failed unexpectedly. Quote the job id when reporting it."


def _error_of(exception: BaseException) -> dict[str, Any]:
    """What the job's status shows: a ``JobFailed`` says what failed in the user's terms;
    anything else is internal (its type and text, which may carry data from the job's
    inputs, go to the log only, where the logging layer redacts secrets)."""
    if isinstance(exception, JobFailed):
        return exception.as_error()
    return JobFailed(UNEXPECTED_JOB_ERROR, code="unexpected_error").as_error()


def _cause_of(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {exception}"[:MAX_ERROR_MESSAGE]


class _RetryPolicy(BaseRetryStrategy):
    """Retry anything but a final ``JobFailed``, up to the job kind's attempts, with exponential waits."""

    def __init__(self, kind: JobKind[Any], settings: Settings) -> None:
        self.kind = kind
        self.max_attempts = kind.attempts_allowed(settings)
        self.base_wait = settings.jobs.retry_base_seconds

    def will_retry(self, exception: BaseException, attempt: int) -> bool:
        if isinstance(exception, JobFailed) and not exception.retryable:
            return False
        return attempt < self.max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        # ``job.attempts`` counts the earlier attempts; this one is ``job.attempts + 1``.
        if not self.will_retry(exception, job.attempts + 1):
            return None
        wait_ms = int(self.base_wait * 1000 * 2**job.attempts)
        return RetryDecision(retry_in={"milliseconds": wait_ms})


INVALID_PAYLOAD = "The job's input is not valid for its kind; queue it again."


def _payload_of(kind: JobKind[P], data: dict[str, Any]) -> P:
    """The typed payload; one that does not validate (queued by an older or newer release) is a final
    failure, not retried: it would fail the same way every time."""
    try:
        return kind.load(data)
    except ValidationError as error:
        details = {"kind": kind.name, "errors": error.error_count()}
        raise JobFailed(INVALID_PAYLOAD, code="invalid_payload", context=details) from error


def _runtime(context: JobContext) -> JobRuntime:
    runtime = context.additional_context.get(RUNTIME_KEY)
    if not isinstance(runtime, JobRuntime):
        raise RuntimeError("the worker was started without a JobRuntime in additional_context")
    return runtime


def _task_for(task: Task[Any], policy: _RetryPolicy, rules: dict[str, ChildRule]) -> Any:
    """The procrastinate task of ``task``; ``rules``: how each kind that fans out settles its children."""
    kind = task.kind

    async def run(context: JobContext, *, tenant_id: str, job_id: str, payload: dict[str, Any]) -> None:
        attempt = context.job.attempts + 1  # procrastinate counts the earlier attempts
        # One span per attempt: its database statements and outbound calls are its children.
        with job_span(kind.name, job_id=job_id, attempt=attempt):
            await attempt_job(context, tenant_id=tenant_id, job_id=job_id, payload=payload, attempt=attempt)

    async def attempt_job(
        context: JobContext, *, tenant_id: str, job_id: str, payload: dict[str, Any], attempt: int
    ) -> None:
        runtime = _runtime(context)
        tenant, job_uuid = uuid.UUID(tenant_id), uuid.UUID(job_id)
        database = runtime.database
        log = logger.bind(task=kind.name, job_id=job_id, tenant_id=tenant_id, attempt=attempt)

        async def progress(fraction: float, message: str) -> None:
            async with database.tenant_session(tenant) as session:
                await job_status.report_progress(session, job_uuid, fraction, message)

        async with database.tenant_session(tenant) as session:
            await job_status.mark_running(session, job_uuid, attempt=attempt)
        run_info = JobRun(kind.name, tenant, job_uuid, attempt, policy.max_attempts, runtime, progress)
        started = time.perf_counter()
        try:
            result = await task.handler(run_info, _payload_of(kind, payload))
        except BaseException as exception:
            JOB_RUNS.labels(task=kind.name, outcome="failure").inc()
            JOB_DURATION.labels(task=kind.name).observe(time.perf_counter() - started)
            if isinstance(exception, Exception):
                will_retry = policy.will_retry(exception, attempt)
                async with database.tenant_session(tenant) as session:
                    await job_status.mark_failed(
                        session, job_uuid, _error_of(exception), will_retry=will_retry, attempt=attempt
                    )
                    if not will_retry:
                        await job_status.settle_parent_of(session, job_uuid, rules)
                log.warning("job_failed", will_retry=will_retry, error=_cause_of(exception))
            raise
        JOB_RUNS.labels(task=kind.name, outcome="success").inc()
        JOB_DURATION.labels(task=kind.name).observe(time.perf_counter() - started)
        async with database.tenant_session(tenant) as session:
            if isinstance(result, FannedOut):
                # Done when its children are; settled here too in case they all finished already.
                await job_status.settle(session, job_uuid, rules)
            else:
                await job_status.mark_succeeded(session, job_uuid, result)
                await job_status.settle_parent_of(session, job_uuid, rules)
        log.info("job_fanned_out" if isinstance(result, FannedOut) else "job_succeeded")

    run.__name__ = kind.name.replace(".", "_")
    return run


def _periodic_task_for(spec: PeriodicTask) -> Any:
    async def run(context: JobContext, timestamp: int) -> None:
        with job_span(spec.name, job_id=str(context.job.id), attempt=context.job.attempts + 1):
            await spec.handler(_runtime(context), context.app)

    run.__name__ = spec.name.replace(".", "_")
    return run


def build_app(
    settings: Settings,
    *,
    worker_url: str,
    tasks: Sequence[Task[Any]],
    periodic: Sequence[PeriodicTask] = (),
) -> procrastinate.App:
    """The procrastinate App for ``worker_url`` (the worker role) running ``tasks``, ``periodic``
    and the queue's own maintenance.

    Open it with ``async with app.open_async():`` before deferring or running a worker.
    """
    names = [task.kind.name for task in tasks]
    if len(names) != len(set(names)):
        raise ValueError(f"a job kind is listed twice: {sorted(n for n in names if names.count(n) > 1)}")
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo_from_url(worker_url),
        min_size=1,
        max_size=max(2, settings.jobs.worker_concurrency + 2),
    )
    app = procrastinate.App(connector=connector)
    rules = {task.kind.name: task.kind.children for task in tasks if task.kind.children is not None}
    for task in tasks:
        policy = _RetryPolicy(task.kind, settings)
        app.task(name=task.kind.name, queue=task.kind.queue, retry=policy, pass_context=True)(
            _task_for(task, policy, rules)
        )
    for periodic_spec in (*MAINTENANCE_TASKS, *periodic):
        registered = app.task(
            name=periodic_spec.name, queue="maintenance", queueing_lock=periodic_spec.name, pass_context=True
        )(_periodic_task_for(periodic_spec))
        app.periodic(cron=periodic_spec.cron)(registered)
    return app


def worker_options(runtime: JobRuntime, **overrides: Any) -> dict[str, Any]:
    """Options for ``App.run_worker_async`` carrying the runtime every task needs."""
    jobs = runtime.settings.jobs
    options: dict[str, Any] = {
        "concurrency": jobs.worker_concurrency,
        "additional_context": {RUNTIME_KEY: runtime},
        "stalled_worker_timeout": jobs.stalled_worker_seconds,
    }
    if jobs.worker_queues:
        options["queues"] = jobs.worker_queues
    options.update(overrides)
    return options
