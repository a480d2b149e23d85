"""The job worker: ``python -m backend.worker`` (``make worker``).

Runs a procrastinate worker on the application role (RLS applies: each job opens its
own tenant session) and serves Prometheus metrics on ``WORKER_METRICS_PORT``
(``job_runs_total``, ``job_duration_seconds``, ``job_queue_depth``,
``connector_syncs_total``). Any number of workers can run, on any machines. With
``ENABLE_TRACING`` each job attempt is a span (service ``OTEL_SERVICE_NAME``).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from procrastinate.jobs import Status
from prometheus_client import start_http_server

from backend.config import Settings, get_settings
from backend.jobs import JobRuntime, build_app, worker_options
from backend.services.forecaster.warmup import start_warmup
from backend.utils.database import Database
from backend.utils.database_urls import resolve_database_urls
from backend.utils.logging import configure_logging
from backend.utils.metrics import JOB_QUEUE_DEPTH, exposition_registry
from backend.utils.observability import configure_tracing

logger = structlog.get_logger(__name__)

QUEUE_DEPTH_INTERVAL_SECONDS = 15.0
# Every status procrastinate has; list_queues counts those a queue can hold.
JOB_STATUSES = tuple(status.value for status in Status)


def serve_metrics(port: int) -> None:
    # In multiprocess mode (PROMETHEUS_MULTIPROC_DIR): the sum over this worker's processes
    # (its compute pool's children included).
    start_http_server(port, addr="0.0.0.0", registry=exposition_registry())  # noqa: S104 - scraped by Prometheus


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


async def run_worker(settings: Settings) -> None:
    urls = await asyncio.to_thread(resolve_database_urls, settings.database)
    database = Database(urls.app, settings.database)
    try:
        await database.verify_role_is_safe()
        app = build_app(settings, app_url=urls.app)
        async with app.open_async():
            depth = asyncio.create_task(refresh_queue_depth(app))
            warmup = start_warmup()
            logger.info(
                "worker_started", embedded_database=urls.embedded, queues=settings.jobs.worker_queues or "all"
            )
            try:
                await app.run_worker_async(**worker_options(JobRuntime(settings, database)))
            finally:
                depth.cancel()
                warmup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await depth
    finally:
        await database.dispose()
        logger.info("worker_stopped")


def main() -> None:
    settings = get_settings()
    configure_logging(level=settings.observability.log_level, json=settings.log_json)
    configure_tracing(
        settings.observability, version=settings.version, environment=settings.environment.value
    )
    serve_metrics(settings.jobs.worker_metrics_port)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
