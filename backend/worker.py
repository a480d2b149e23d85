"""The job worker: ``python -m backend.worker`` (``make worker``).

Runs a procrastinate worker on the worker role (``DATABASE_WORKER_URL``; the embedded
default makes it): the only role that reads the whole queue and lists due connector
schedules. RLS still applies to tenant data: each job opens its own tenant session.
Serves Prometheus metrics on ``WORKER_METRICS_HOST:WORKER_METRICS_PORT``
(``job_runs_total``, ``job_duration_seconds``, ``job_queue_depth``,
``connector_syncs_total``). Every CPU-heavy step of a job runs in the worker's one CPU
executor (``COMPUTE_WORKERS`` processes, ``backend.utils.compute``). Any number of workers can
run, on any machines. With ``ENABLE_TRACING`` each job attempt is a span (service ``OTEL_SERVICE_NAME``).

A database outage does not end the worker: procrastinate's worker stops when its
LISTEN/NOTIFY or heartbeat task loses the connection, so a supervising loop waits for
PostgreSQL (with backoff) and starts it again, logging the outage and the recovery once
each. Jobs that were running then are retried by the stalled-job maintenance. SIGINT or
SIGTERM stop it gracefully (running jobs finish). A metrics port already taken ends the
process at once with exit status 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import procrastinate
import structlog
from procrastinate.jobs import Status
from prometheus_client import start_http_server

from backend.config import Settings, get_settings
from backend.services.alerts import delivery as alert_delivery
from backend.services.auth import tasks as auth_tasks
from backend.services.benchmarks import tasks as benchmark_tasks
from backend.services.connectors import tasks as connector_tasks
from backend.services.evidence import tasks as evidence_tasks
from backend.services.forecaster import tasks as forecaster_tasks
from backend.services.forecaster.warmup import start_warmup, stop_with_warmup
from backend.services.insights import tasks as insight_tasks
from backend.services.metrics import tasks as metric_tasks
from backend.services.optimizer import tasks as optimizer_tasks
from backend.services.queue import JobRuntime, PeriodicTask, Task, build_app, worker_options
from backend.utils.compute import ComputePool
from backend.utils.database import Database
from backend.utils.database_errors import is_connection_failure
from backend.utils.database_urls import resolve_database_urls
from backend.utils.logging import configure_logging
from backend.utils.observability import configure_tracing
from backend.utils.prometheus import JOB_QUEUE_DEPTH, exposition_registry

logger = structlog.get_logger(__name__)

# Every task a worker runs, listed explicitly (the queue's own maintenance is added by build_app).
TASKS: tuple[Task[Any], ...] = (
    *connector_tasks.TASKS,
    *evidence_tasks.TASKS,
    *optimizer_tasks.TASKS,
    *forecaster_tasks.TASKS,
    *benchmark_tasks.TASKS,
    *metric_tasks.TASKS,
    *insight_tasks.TASKS,
    *auth_tasks.TASKS,
    *alert_delivery.TASKS,
)
PERIODIC_TASKS: tuple[PeriodicTask, ...] = (*connector_tasks.PERIODIC_TASKS, *insight_tasks.PERIODIC_TASKS)

QUEUE_DEPTH_INTERVAL_SECONDS = 15.0
# Every status procrastinate has; list_queues counts those a queue can hold.
JOB_STATUSES = tuple(status.value for status in Status)
# Waits between tries to reach PostgreSQL during an outage: doubling from the first to the last.
RECONNECT_FIRST_WAIT_SECONDS = 0.5
RECONNECT_MAX_WAIT_SECONDS = 5.0
EXIT_METRICS_PORT_UNAVAILABLE = 3


class MetricsPortUnavailable(RuntimeError):
    """The worker's metrics address is taken (another worker, another ``make dev``) or invalid."""


def serve_metrics(host: str, port: int) -> None:
    # In multiprocess mode (PROMETHEUS_MULTIPROC_DIR): the sum over this worker's processes
    # (its compute pool's children included).
    try:
        start_http_server(port, addr=host, registry=exposition_registry())
    except OSError as error:
        raise MetricsPortUnavailable(
            f"cannot serve worker metrics on {host}:{port} ({error.strerror or error}); "
            "set WORKER_METRICS_PORT to a free port"
        ) from error


async def refresh_queue_depth(app: object, interval: float = QUEUE_DEPTH_INTERVAL_SECONDS) -> None:
    """Keep ``job_queue_depth{queue,status}`` in step with the queue tables."""
    seen: set[tuple[str, str]] = set()
    while True:
        try:
            queues = await app.job_manager.list_queues_async()  # type: ignore[attr-defined]
            current: set[tuple[str, str]] = set()
            for row in queues:
                for status in JOB_STATUSES:
                    if status in row:
                        JOB_QUEUE_DEPTH.labels(queue=row["name"], status=status).set(row[status])
                        current.add((row["name"], status))
            for queue, status in seen - current:
                JOB_QUEUE_DEPTH.labels(queue=queue, status=status).set(0)
            seen |= current
        except Exception as error:  # a metrics refresh must never stop the worker
            logger.warning("queue_depth_refresh_failed", error=type(error).__name__)
        await asyncio.sleep(interval)


async def _database_reachable(database: Database) -> bool:
    try:
        await database.ping()
    except Exception as error:
        if not is_connection_failure(error):
            raise
        return False
    return True


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def wait_for_database(database: Database, stop: asyncio.Event) -> None:
    """Return once PostgreSQL answers (or ``stop`` is set), trying with growing waits."""
    wait = RECONNECT_FIRST_WAIT_SECONDS
    while not stop.is_set() and not await _database_reachable(database):
        await _sleep_unless_stopped(stop, wait)
        wait = min(wait * 2, RECONNECT_MAX_WAIT_SECONDS)


async def _run_until_stopped(app: procrastinate.App, runtime: JobRuntime, stop: asyncio.Event) -> bool:
    """Run one procrastinate worker; True once ``stop`` ended it, False if it ended by itself."""
    async with app.open_async():
        depth = asyncio.create_task(refresh_queue_depth(app))
        worker = asyncio.create_task(
            app.run_worker_async(**worker_options(runtime, install_signal_handlers=False))
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not worker.done():
                worker.cancel()  # procrastinate's graceful stop: running jobs finish first
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
                return True
            worker.result()  # raises what ended it
            return stop.is_set()
        finally:
            for task in (depth, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _wait_out_outage(database: Database, stop: asyncio.Event, reason: str) -> None:
    started = time.monotonic()
    logger.error(
        "worker_database_unavailable",
        reason=reason,
        action="waiting for PostgreSQL; the worker (re)starts by itself",
    )
    await _sleep_unless_stopped(stop, RECONNECT_FIRST_WAIT_SECONDS)
    await wait_for_database(database, stop)
    if not stop.is_set():
        logger.warning("worker_database_recovered", outage_seconds=round(time.monotonic() - started, 1))


async def supervise(app: procrastinate.App, runtime: JobRuntime, stop: asyncio.Event) -> None:
    """Run the worker until ``stop``; after a database outage, wait for PostgreSQL and restart it.

    Any other failure (PostgreSQL answers, the error was not about the connection) is raised.
    """
    while not stop.is_set():
        # procrastinate's worker ends by itself only when a side task (LISTEN/NOTIFY, heartbeat)
        # failed, and it does not say why; its log line above does.
        reason = "the worker stopped: a side task lost its connection"
        try:
            if await _run_until_stopped(app, runtime, stop):
                return
        except Exception as error:
            if not is_connection_failure(error) and await _database_reachable(runtime.database):
                raise
            reason = type(error).__name__
        await _wait_out_outage(runtime.database, stop, reason)


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, *, tasks: Sequence[Task[Any]] = TASKS
) -> None:
    """The worker process's body, running ``tasks``; ``stop`` (SIGINT/SIGTERM by default) ends it
    gracefully."""
    stop = stop or _stop_on_signals()
    urls = await asyncio.to_thread(resolve_database_urls, settings.database)
    worker_url = urls.require_worker()
    database = Database(worker_url, settings.database)
    try:
        if not await _database_reachable(database):
            await _wait_out_outage(database, stop, "PostgreSQL is not reachable at start")
        if stop.is_set():
            return
        await database.verify_role_is_safe()
        app = build_app(settings, worker_url=worker_url, tasks=tasks, periodic=PERIODIC_TASKS)
        compute = ComputePool(settings.compute.workers)
        warmup = start_warmup(compute)
        logger.info(
            "worker_started",
            embedded_database=urls.embedded,
            queues=settings.jobs.worker_queues or "all",
            compute_workers=compute.max_workers,
        )
        try:
            await supervise(app, JobRuntime(settings, database, compute), stop)
        finally:
            await stop_with_warmup(warmup.task, compute)
    finally:
        await database.dispose()
        logger.info("worker_stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def main() -> None:
    settings = get_settings()
    configure_logging(level=settings.observability.log_level, json=settings.log_json)
    configure_tracing(
        settings.observability, version=settings.version, environment=settings.environment.value
    )
    try:
        serve_metrics(settings.worker_metrics_host, settings.jobs.worker_metrics_port)
    except MetricsPortUnavailable as error:
        logger.error(
            "worker_metrics_port_unavailable", error=str(error), exit_status=EXIT_METRICS_PORT_UNAVAILABLE
        )
        print(f"\n*** job worker NOT started: {error} ***\n", file=sys.stderr)
        sys.exit(EXIT_METRICS_PORT_UNAVAILABLE)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
