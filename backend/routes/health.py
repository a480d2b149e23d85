"""Operational endpoints: liveness, readiness and Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend.config import Settings
from backend.dependencies import AppDatabase, AppSettings
from backend.schemas.health import HealthRead, ReadinessCheck, ReadinessRead
from backend.services.queue.workers import live_worker_count
from backend.utils.database import Database
from backend.utils.migrations import head_revision
from backend.utils.prometheus import exposition_registry
from backend.utils.warmup import Warmup

router = APIRouter(tags=["operations"])
# Mounted only when ENABLE_PROMETHEUS is on.
metrics_router = APIRouter(tags=["operations"])


@router.get("/api/health", summary="Liveness (no database)")
async def health(settings: AppSettings) -> HealthRead:
    """For load balancers and uptime checks: answers 200 with the version and environment while the process
    serves, without touching the database (use `/api/ready` for that). No credentials needed."""
    return HealthRead(status="ok", version=settings.version, environment=settings.environment.value)


@router.get(
    "/api/ready",
    response_model=ReadinessRead,
    summary="Readiness: database reachable, migrations at head, live job workers, coach and forecaster warm",
    description="503 while the database is unreachable or behind the code's migrations, and "
    "while no job worker has a recent heartbeat if READY_REQUIRES_WORKER is on; otherwise a "
    "missing worker makes the status `degraded` (200). `coach_warm` and `forecaster_warm` report "
    "the start-up warm-ups (the coach's embedding model and classifier; statsforecast in the "
    "compute workers): `warming` or `failed` make the status `degraded` (the feature answers, its "
    "first request pays for the loading), never `not_ready`.",
    responses={503: {"model": ReadinessRead, "description": "Not ready; checks say why"}},
)
async def ready(request: Request, database: AppDatabase, settings: AppSettings) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = {}
    workers: int | None = None
    try:
        current = await database.migration_revision()
        checks["database"] = ReadinessCheck(ok=True, detail="reachable")
    except Exception as error:  # any failure to reach the database means "not ready"
        current = None
        checks["database"] = ReadinessCheck(ok=False, detail=f"unavailable: {type(error).__name__}")
    if checks["database"].ok:
        expected = head_revision()
        at_head = current == expected
        checks["migrations"] = ReadinessCheck(
            ok=at_head,
            detail=f"at head {expected}"
            if at_head
            else f"database at {current or 'no revision'}, code expects {expected}",
        )
        workers, checks["workers"] = await _workers_check(database, settings)
    for check, attribute in (("coach_warm", "coach_warmup"), ("forecaster_warm", "forecaster_warmup")):
        warmup: Warmup | None = getattr(request.app.state, attribute, None)
        if warmup is not None:
            checks[check] = ReadinessCheck(
                ok=warmup.state == "ready", detail=f"{warmup.state}: {warmup.detail}", required=False
            )
    is_ready = all(check.ok for check in checks.values() if check.required)
    all_ok = all(check.ok for check in checks.values())
    status = "ready" if all_ok else "degraded" if is_ready else "not_ready"
    body = ReadinessRead(status=status, checks=checks, live_workers=workers)
    return JSONResponse(body.model_dump(), status_code=200 if is_ready else 503)


async def _workers_check(database: Database, settings: Settings) -> tuple[int | None, ReadinessCheck]:
    # Live: a heartbeat within the stalled-worker window (past it, maintenance retries its jobs).
    window = settings.jobs.stalled_worker_seconds
    required = settings.jobs.ready_requires_worker
    try:
        async with database.system_connection() as connection:
            count = await live_worker_count(connection, heartbeat_within_seconds=window)
    except Exception as error:  # readiness reports; it never fails with a 500
        return None, ReadinessCheck(ok=False, detail=f"unknown: {type(error).__name__}", required=required)
    return count, ReadinessCheck(
        ok=count > 0, detail=f"{count} with a heartbeat in the last {window:g} s", required=required
    )


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"}},
)
async def metrics(request: Request) -> Response:
    """The Prometheus text exposition for scraping: request counts and latencies by route template, job, LLM
    and database metrics, never per tenant. No credentials; mounted only when ENABLE_PROMETHEUS is on."""
    # In multiprocess mode (PROMETHEUS_MULTIPROC_DIR): the sum over this instance's processes.
    return Response(generate_latest(exposition_registry()), media_type=CONTENT_TYPE_LATEST)
