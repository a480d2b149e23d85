"""Request context, Prometheus timing, OpenTelemetry tracing and database timing.

``RequestContextMiddleware`` is a pure ASGI middleware (no response buffering, safe for
streaming): it assigns a request id, binds it into structlog contextvars, opens a server
span (continuing a W3C ``traceparent`` from the caller), enforces the request body limit,
and on the way out records the Prometheus metrics labelled by the *route template* and
writes one access log line.

Spans (``ENABLE_TRACING``; exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
set): the request (server), each database statement (client, from SQLAlchemy's cursor
events: they run inside SQLAlchemy's greenlet, which shares the request task's context, so
statements are children of the request or job span), outbound HTTP through
``outbound_http_span`` (LLM providers, connectors) and job attempts (``job_span``).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import ObservabilitySettings
from backend.services.errors import PayloadTooLarge, Problem
from backend.utils.error_handlers import error_body
from backend.utils.prometheus import (
    DB_POOL_CHECKED_OUT,
    DB_POOL_OVERFLOW,
    DB_POOL_SIZE,
    DB_QUERY_DURATION,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
    mark_this_process_dead,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = structlog.get_logger("dyocense.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_UNMATCHED_ROUTE = "unmatched"
_MAX_STATEMENT_CHARS = 2000
_tracing_configured = False

_db_tracer = trace.get_tracer("dyocense.db")
_http_client_tracer = trace.get_tracer("dyocense.http.client")
_job_tracer = trace.get_tracer("dyocense.jobs")
_agent_tracer = trace.get_tracer("dyocense.agents")


def configure_tracing(
    settings: ObservabilitySettings,
    *,
    version: str,
    environment: str,
    exporter: SpanExporter | None = None,
) -> bool:
    """Install an SDK tracer provider, once per process, when tracing is enabled.

    Spans go over OTLP/HTTP when an endpoint is configured, and to ``exporter`` when given
    (tests pass an in-memory exporter). Without either, spans still give every log line a
    trace id and span id. Returns whether this call installed the provider.
    """
    global _tracing_configured
    if _tracing_configured or not settings.enable_tracing:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

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
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracing_configured = True
    return True


def _log_ids(span: Span) -> dict[str, str]:
    context = span.get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def bind_span_to_logs(span: Span) -> None:
    """Put the span's trace id and span id into the structlog context (no-op when not tracing)."""
    structlog.contextvars.bind_contextvars(**_log_ids(span))


def _mark_failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))


@contextmanager
def outbound_http_span(method: str, url: Any, *, attributes: dict[str, Any] | None = None) -> Iterator[Span]:
    """A client span around one outbound HTTP request (``url``: an ``httpx.URL``).

    The span carries scheme, host, port and path only (queries can hold credentials); the
    caller sets ``http.response.status_code`` on the yielded span when an answer came.
    """
    safe = url.copy_with(query=None, fragment=None, username=None, password=None)
    with _http_client_tracer.start_as_current_span(
        f"{method} {safe.host}",
        kind=SpanKind.CLIENT,
        record_exception=False,
        set_status_on_exception=False,
        attributes={
            "http.request.method": method,
            "url.full": str(safe),
            "server.address": safe.host,
            "server.port": safe.port or (443 if safe.scheme == "https" else 80),
            **(attributes or {}),
        },
    ) as span:
        try:
            yield span
        except BaseException as error:
            span.set_attribute("error.type", type(error).__name__)
            _mark_failed(span, error)
            raise


def record_http_status(span: Span, status_code: int) -> None:
    span.set_attribute("http.response.status_code", status_code)
    if status_code >= 400:
        span.set_attribute("error.type", str(status_code))
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))


@contextmanager
def job_span(task: str, *, job_id: str, attempt: int) -> Iterator[Span]:
    """A consumer span around one job attempt; its ids are bound into the job's log lines."""
    with (
        _job_tracer.start_as_current_span(
            f"job {task}",
            kind=SpanKind.CONSUMER,
            record_exception=False,
            set_status_on_exception=False,
            attributes={"job.task": task, "job.id": job_id, "job.attempt": attempt},
        ) as span,
        structlog.contextvars.bound_contextvars(**_log_ids(span)),
    ):
        try:
            yield span
        except BaseException as error:
            _mark_failed(span, error)
            raise


@contextmanager
def agent_span(agent: str) -> Iterator[Span]:
    """An internal span around one coach agent step (a child of the chat request's span)."""
    with _agent_tracer.start_as_current_span(
        f"agent {agent}",
        kind=SpanKind.INTERNAL,
        record_exception=False,
        set_status_on_exception=False,
        attributes={"agent.name": agent},
    ) as span:
        try:
            yield span
        except BaseException as error:
            _mark_failed(span, error)
            raise


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tracer = trace.get_tracer("dyocense.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _marking_dead_on_shutdown(send))
            return
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
                    message := f"Request body exceeds {self.max_body_bytes} bytes",
                    [Problem.of(PayloadTooLarge.code, message, {"limit_bytes": self.max_body_bytes})],
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
        with self._server_span(scope, headers, request_id) as (span, owned):
            bind_span_to_logs(span)
            try:
                if too_large_up_front:
                    await reject_too_large()
                else:
                    await self.app(scope, receive_limited, send_with_request_id)
            finally:
                duration = time.perf_counter() - started
                route = _route_template(scope)
                if owned:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status_code)
                    if status_code >= 500:
                        span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))
                labels = {"method": method, "route": route, "status": str(status_code)}
                HTTP_REQUESTS.labels(**labels).inc()
                HTTP_REQUEST_DURATION.labels(**labels).observe(duration)
                log = logger.warning if status_code >= 500 else logger.info
                log("request", route=route, status=status_code, duration_ms=round(duration * 1000, 2))

    @contextmanager
    def _server_span(
        self, scope: Scope, headers: dict[bytes, bytes], request_id: str
    ) -> Iterator[tuple[Span, bool]]:
        """The request's server span, and whether this middleware owns it.

        FastAPI's native telemetry (on whenever a tracer provider is installed) already opened
        the server span around the whole stack, continuing the caller's ``traceparent``, and
        names it by route and status: reuse it rather than nest a second server span.
        Without it, open one here.
        """
        current = trace.get_current_span()
        if current.is_recording() and getattr(current, "kind", None) is SpanKind.SERVER:
            current.set_attribute("http.request.id", request_id)
            yield current, False
            return
        parent = None
        if not current.get_span_context().is_valid:
            # Continue the caller's trace (W3C traceparent), e.g. a proxy or another service.
            parent = propagate.extract(
                {key.decode("latin-1"): value.decode("latin-1") for key, value in headers.items()}
            )
        with self.tracer.start_as_current_span(
            f"{scope['method']} request",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "url.path": scope.get("path", ""),
                "url.scheme": scope.get("scheme", "http"),
                "http.request.id": request_id,
            },
        ) as span:
            yield span, True


def _marking_dead_on_shutdown(send: Send) -> Send:
    """``send`` for the lifespan scope: once the app has shut down, this process's live gauges
    leave the multiprocess aggregate (a uvicorn worker dies by signal right after, without atexit)."""

    async def send_and_mark(message: Message) -> None:
        if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            mark_this_process_dead()
        await send(message)

    return send_and_mark


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED_ROUTE


def instrument_engine(engine: AsyncEngine) -> None:
    """Time every statement by kind, trace it, and mirror the pool's state into gauges.

    A statement becomes a span only inside a trace (a request or a job): pool pings and
    startup checks do not start traces of their own. Parameters never reach the span.
    """
    sync_engine = engine.sync_engine
    url = sync_engine.url

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _started(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        kind = _statement_kind(statement)
        # On the execution context (one per statement), so a failed statement leaves nothing behind.
        context._dyocense_query = (time.perf_counter(), kind, _statement_span(url, kind, statement))

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _finished(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        started, kind, span = context.__dict__.pop("_dyocense_query", (None, None, None))
        if started is None:
            return
        DB_QUERY_DURATION.labels(operation=kind).observe(time.perf_counter() - started)
        if span is not None:
            span.end()

    @event.listens_for(sync_engine, "handle_error")
    def _failed(exception_context: ExceptionContext) -> None:
        context = exception_context.execution_context
        if context is None:
            return
        started, kind, span = context.__dict__.pop("_dyocense_query", (None, None, None))
        if started is None:
            return
        DB_QUERY_DURATION.labels(operation=kind).observe(time.perf_counter() - started)
        if span is not None:
            error = exception_context.original_exception
            span.set_attribute("error.type", type(error).__name__)
            _mark_failed(span, error)
            span.end()

    pool: Any = sync_engine.pool

    def _pool_changed(*_: Any) -> None:
        DB_POOL_SIZE.set(pool.size())
        DB_POOL_CHECKED_OUT.set(pool.checkedout())
        DB_POOL_OVERFLOW.set(max(pool.overflow(), 0))

    for name in ("connect", "checkout", "checkin", "close"):
        event.listen(pool, name, _pool_changed)


def _statement_span(url: URL, kind: str, statement: str) -> Span | None:
    """A client span for one statement, only inside a trace; parameters never reach it."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    return _db_tracer.start_span(
        f"{kind.upper()} {url.database}",
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "postgresql",
            "db.namespace": url.database or "",
            "server.address": url.host or "",
            "server.port": url.port or 5432,
            "db.operation.name": kind.upper(),
            "db.query.text": statement[:_MAX_STATEMENT_CHARS],
        },
    )


@contextmanager
def driver_statement(url: URL, statement: str) -> Iterator[None]:
    """Time and trace a statement sent straight to the driver connection, as ``instrument_engine``
    does for those SQLAlchemy runs (hot paths skip SQLAlchemy's per-row result processing)."""
    kind = _statement_kind(statement)
    span = _statement_span(url, kind, statement)
    started = time.perf_counter()
    try:
        yield
    except BaseException as error:
        if span is not None:
            span.set_attribute("error.type", type(error).__name__)
            _mark_failed(span, error)
        raise
    finally:
        DB_QUERY_DURATION.labels(operation=kind).observe(time.perf_counter() - started)
        if span is not None:
            span.end()


def _statement_kind(statement: str) -> str:
    head = statement.lstrip().split(None, 1)[0].lower() if statement.strip() else ""
    if head == "with":
        # CTEs: classify by the first data-modifying keyword, else a read.
        lowered = statement.lower()
        for kind in ("insert", "update", "delete"):
            if f" {kind} " in lowered:
                return kind
        return "select"
    return head if head in {"select", "insert", "update", "delete", "copy"} else "other"
