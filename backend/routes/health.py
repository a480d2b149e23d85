"""Operational endpoints: liveness, readiness and Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend.dependencies import AppDatabase, AppSettings
from backend.schemas.health import HealthRead, ReadinessCheck, ReadinessRead
from backend.utils.metrics import exposition_registry
from backend.utils.migrations import head_revision

router = APIRouter(tags=["operations"])
# Mounted only when ENABLE_PROMETHEUS is on.
metrics_router = APIRouter(tags=["operations"])


@router.get("/api/health", response_model=HealthRead, summary="Liveness (no database)")
async def health(settings: AppSettings) -> HealthRead:
    return HealthRead(status="ok", version=settings.version, environment=settings.environment.value)


@router.get(
    "/api/ready",
    response_model=ReadinessRead,
    summary="Readiness: database reachable and migrations at head",
    responses={503: {"model": ReadinessRead, "description": "Not ready; checks say why"}},
)
async def ready(database: AppDatabase) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = {}
    try:
        current = await database.migration_revision()
        checks["database"] = ReadinessCheck(ok=True, detail="reachable")
    except Exception as error:  # any failure to reach the database means "not ready"
        current = None
        checks["database"] = ReadinessCheck(ok=False, detail=f"unreachable: {type(error).__name__}")
    if checks["database"].ok:
        expected = head_revision()
        at_head = current == expected
        checks["migrations"] = ReadinessCheck(
            ok=at_head,
            detail=f"at head {expected}"
            if at_head
            else f"database at {current or 'no revision'}, code expects {expected}",
        )
    ok = all(check.ok for check in checks.values())
    body = ReadinessRead(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"}},
)
async def metrics(request: Request) -> Response:
    # In multiprocess mode (PROMETHEUS_MULTIPROC_DIR): the sum over this instance's processes.
    return Response(generate_latest(exposition_registry()), media_type=CONTENT_TYPE_LATEST)
