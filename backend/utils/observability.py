"""Request context, Prometheus timing, OpenTelemetry tracing and database timing.

``RequestContextMiddleware`` is a pure ASGI middleware (no response buffering, safe for
streaming): it assigns a request id, binds it into structlog contextvars, opens a server
span, enforces the request body limit, and on the way out records the Prometheus
metrics labelled by the *route template* and writes one access log line.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import ObservabilitySettings
from backend.services.errors import PayloadTooLarge
from backend.utils.errors import error_body
from backend.utils.metrics import (
    DB_POOL_CHECKED_OUT,
    DB_POOL_OVERFLOW,
    DB_POOL_SIZE,
    DB_QUERY_DURATION,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
)

logger = structlog.get_logger("dyocense.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_UNMATCHED_ROUTE = "unmatched"
_tracing_configured = False


def configure_tracing(settings: ObservabilitySettings, *, version: str, environment: str) -> None:
    """Install an SDK tracer provider exporting over OTLP/HTTP, once per process, when enabled."""
    global _tracing_configured
    if _tracing_configured or not settings.enable_tracing:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": settings.service_name,
                "service.version": version,
                "deployment.environment": environment,
            }
        )
    )
    if settings.otlp_endpoint:
        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _tracing_configured = True


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tracer = trace.get_tracer("dyocense.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        method = scope["method"]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, method=method)

        status_code = 500
        received = 0
        response_started = False
        rejected = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                if response_started:
                    return  # the app answering after we already rejected the body
                response_started = True
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif rejected and message["type"] == "http.response.body" and status_code != 413:
                return
            await send(message)

        async def reject_too_large() -> None:
            nonlocal rejected
            rejected = True
            body = json.dumps(
                error_body(
                    PayloadTooLarge.code,
                    f"Request body exceeds {self.max_body_bytes} bytes",
                    {"limit_bytes": self.max_body_bytes},
                )
            ).encode()
            await send_with_request_id(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_request_id({"type": "http.response.body", "body": body})

        async def receive_limited() -> Message:
            nonlocal received
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Chunked bodies have no length up front: answer 413 now, and let the app
                    # see a client that went away (its own late response is dropped).
                    await reject_too_large()
                    return {"type": "http.disconnect"}
            return message

        declared = headers.get(b"content-length", b"")
        too_large_up_front = declared.isdigit() and int(declared) > self.max_body_bytes

        started = time.perf_counter()
        with self.tracer.start_as_current_span(f"{method} request", kind=SpanKind.SERVER) as span:
            context = span.get_span_context()
            if context.is_valid:
                structlog.contextvars.bind_contextvars(
                    trace_id=format(context.trace_id, "032x"), span_id=format(context.span_id, "016x")
                )
            try:
                if too_large_up_front:
                    await reject_too_large()
                else:
                    await self.app(scope, receive_limited, send_with_request_id)
            finally:
                duration = time.perf_counter() - started
                route = _route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status_code)
                labels = {"method": method, "route": route, "status": str(status_code)}
                HTTP_REQUESTS.labels(**labels).inc()
                HTTP_REQUEST_DURATION.labels(**labels).observe(duration)
                log = logger.warning if status_code >= 500 else logger.info
                log("request", route=route, status=status_code, duration_ms=round(duration * 1000, 2))


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED_ROUTE


def instrument_engine(engine: AsyncEngine) -> None:
    """Time every statement by kind, and mirror the pool's state into gauges."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _started(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        conn.info.setdefault("query_started", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _finished(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        started = conn.info["query_started"].pop()
        DB_QUERY_DURATION.labels(operation=_statement_kind(statement)).observe(time.perf_counter() - started)

    pool: Any = sync_engine.pool

    def _pool_changed(*_: Any) -> None:
        DB_POOL_SIZE.set(pool.size())
        DB_POOL_CHECKED_OUT.set(pool.checkedout())
        DB_POOL_OVERFLOW.set(max(pool.overflow(), 0))

    for name in ("connect", "checkout", "checkin", "close"):
        event.listen(pool, name, _pool_changed)


def _statement_kind(statement: str) -> str:
    head = statement.lstrip().split(None, 1)[0].lower() if statement.strip() else ""
    if head == "with":
        # CTEs: classify by the first data-modifying keyword, else a read.
        lowered = statement.lower()
        for kind in ("insert", "update", "delete"):
            if f" {kind} " in lowered:
                return kind
        return "select"
    return head if head in {"select", "insert", "update", "delete"} else "other"
