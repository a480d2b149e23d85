"""The Dyocense API: ``create_app()`` builds it; ``app`` is what uvicorn serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import structlog
from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute

from backend.agents.runtime import build_coach_runtime
from backend.agents.warmup import start_coach_warmup
from backend.config import Settings, get_settings
from backend.routes import (
    alerts,
    api_keys,
    auth,
    benchmarks,
    calendar_events,
    coach,
    coach_stream,
    connectors,
    digests,
    evidence,
    exchange_rates,
    forecaster,
    goals,
    health,
    insights,
    jobs,
    metrics,
    optimizer,
    tenant,
    users,
)
from backend.routes.docs import install_docs
from backend.services.forecaster.warmup import start_warmup, stop_with_warmup
from backend.utils.compute import ComputePool
from backend.utils.cors import EnvelopeCORSMiddleware
from backend.utils.database import Database
from backend.utils.database_urls import resolve_database_urls
from backend.utils.error_handlers import common_error_responses, install_error_handlers
from backend.utils.input_guard import reject_nul_text
from backend.utils.logging import configure_logging
from backend.utils.observability import RequestContextMiddleware, configure_tracing, instrument_engine
from backend.utils.prometheus import APP_INFO
from backend.utils.rate_limit import RateLimiter
from backend.utils.tenant_slots import TenantSlots

logger = structlog.get_logger(__name__)
# Smaller bodies gain less from gzip than its framing and CPU cost.
GZIP_MINIMUM_BYTES = 1024

OPENAPI_TAGS = [
    {"name": "operations", "description": "Health, readiness and Prometheus metrics."},
    {"name": "tenants", "description": "Sign-up and the caller's tenant (a business)."},
    {"name": "auth", "description": "Sign-in, token refresh, logout, account activation and password reset."},
    {
        "name": "users",
        "description": "People in the tenant and their roles (owner > admin > analyst > viewer).",
    },
    {"name": "api-keys", "description": "Keys for scripts; send as `X-API-Key` or `Authorization: Bearer`."},
    {
        "name": "jobs",
        "description": "Background jobs (run by workers, `python -m backend.worker`): poll status, progress, "
        "result or error.",
    },
    {
        "name": "connectors",
        "description": "Connector types and data sources (file, Google Sheets, REST/JSON, Stripe, Shopify, "
        "PostgreSQL) synced on demand or on a schedule; credentials encrypted, never returned.",
    },
    {"name": "benchmarks", "description": "Industry reference percentiles (imported with provenance)."},
    {"name": "metrics", "description": "KPIs as time series: ingest, upload, catalog and rollups."},
    {"name": "goals", "description": "SMART goals whose progress is computed from metrics."},
    {
        "name": "insights",
        "description": "What the insight engine found in followed metrics (changes, unusual days, drivers, "
        "trends, records, goals at risk, data health), your feed with read and snooze, and follows.",
    },
    {
        "name": "evidence",
        "description": "Causal analysis of which levers move an outcome (DoWhy estimates with refutations "
        "and a verdict), kept as an evidence graph; driver screening, Granger tests and what-if.",
    },
    {
        "name": "forecaster",
        "description": "Forecasts of any metric with prediction intervals and backtested accuracy against "
        "naive baselines; evaluate past forecasts as actuals arrive.",
    },
    {
        "name": "calendar events",
        "description": "Events a business marks (promotions, closures, Black Friday): with the public "
        "holidays of its country, regressors of its daily forecasts.",
    },
    {
        "name": "optimizer",
        "description": "Optimal plans for budget allocation, inventory reorder, staffing and product mix, "
        "with what-if comparison of scenarios.",
    },
    {
        "name": "coach",
        "description": "The AI coach: chat (JSON or Server-Sent Events) answered by agents over the goals, "
        "evidence, forecaster and optimizer services with cited numbers; LLM spend and budget; coaching "
        "sessions and semantic search over them.",
    },
]


def _operation_id(route: APIRoute) -> str:
    return route.name


def _build_routes(app: FastAPI) -> None:
    """Build every included router's routes now: FastAPI builds them on the first request that
    reaches the router (seconds for the first chat otherwise). Thread-safe (FastAPI locks it)."""
    for route in app.router.routes:
        build = getattr(route, "effective_candidates", None)
        if callable(build):
            build()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(level=settings.observability.log_level, json=settings.log_json)
    configure_tracing(
        settings.observability, version=settings.version, environment=settings.environment.value
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        urls = await asyncio.to_thread(resolve_database_urls, settings.database)
        database = Database(urls.app, settings.database)
        try:
            await database.verify_role_is_safe()
            coach_runtime = await build_coach_runtime(database, settings.llm)
        except BaseException:
            await database.dispose()
            raise
        instrument_engine(database.engine)
        app.state.settings = settings
        app.state.database = database
        app.state.rate_limiter = RateLimiter(database, settings.auth.secret_key.get_secret_value())
        app.state.compute_pool = ComputePool(settings.compute.workers)
        app.state.tenant_write_slots = TenantSlots(settings.tenant_writes_in_flight)
        app.state.forecaster_warmup = start_warmup(app.state.compute_pool)
        app.state.coach = coach_runtime
        app.state.coach_warmup = start_coach_warmup(coach_runtime, prepare=partial(_build_routes, app))
        APP_INFO.labels(version=settings.version, environment=settings.environment.value).set(1)
        logger.info("startup", environment=settings.environment.value, embedded_database=urls.embedded)
        try:
            yield
        finally:
            app.state.coach_warmup.cancel()
            await stop_with_warmup(app.state.forecaster_warmup.task, app.state.compute_pool)
            await coach_runtime.close()
            await database.dispose()
            logger.info("shutdown")

    app = FastAPI(
        title=f"{settings.app_name} API",
        version=settings.version,
        description=(
            "Decision intelligence for small and medium businesses: metrics, SMART goals, forecasts, "
            "causal evidence, optimal plans and an AI coach. Every error body is "
            '`{"error": {"code", "message", "details": {"problems": [...]}}}`.'
        ),
        openapi_tags=OPENAPI_TAGS,
        responses=common_error_responses(),
        generate_unique_id_function=_operation_id,
        dependencies=[Depends(reject_nul_text)],
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(
        EnvelopeCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "Last-Event-ID"],
        # What a browser script may read cross-origin: the id to quote, where a created or queued
        # resource is, the validator for If-None-Match, and how long to wait after a 429/503.
        expose_headers=["X-Request-ID", "Location", "ETag", "Retry-After"],
    )
    # Large JSON (rollups, the OpenAPI document) goes out gzipped to clients that accept it;
    # Starlette leaves text/event-stream (the streaming chat) alone. Level 5: most of level 9's
    # saving on JSON at a fraction of its CPU.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=5)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_request_body_bytes)

    app.include_router(health.router)
    if settings.observability.enable_prometheus:
        app.include_router(health.metrics_router)
    app.include_router(tenant.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(api_keys.router)
    app.include_router(metrics.router)
    app.include_router(exchange_rates.router)
    app.include_router(goals.router)
    app.include_router(digests.router)  # before insights: /insights/digest is not an insight id
    app.include_router(insights.router)
    app.include_router(alerts.router)
    app.include_router(optimizer.router)
    app.include_router(evidence.router)
    app.include_router(forecaster.router)
    app.include_router(calendar_events.router)
    app.include_router(jobs.router)
    app.include_router(connectors.router)
    app.include_router(benchmarks.router)
    app.include_router(coach.router)
    app.include_router(coach_stream.router)
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn backend.main:app` builds the app on first access, not on every import
    # (tests import this module and build their own apps with their own settings).
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
