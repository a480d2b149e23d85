"""The HTTP mapping of errors: every error leaves the API as ``{"error": {code, message, details}}``.

The exception hierarchy services raise lives in ``backend.services.errors``; this module
holds the envelope's response models, the handlers that map exceptions to it, and the
OpenAPI side: ``error_responses(401, 404, …)`` documents those statuses with the shared
``ErrorResponse`` schema on a route or router.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.services.errors import DyocenseError, Problem, RateLimited, Unauthorized
from backend.utils.database_errors import DatabaseUnavailable, is_connection_failure

logger = structlog.get_logger(__name__)

_DESCRIPTIONS = {
    400: "Bad request: the request cannot be read as HTTP the API accepts (for example a CORS preflight "
    "from an origin that is not allowed)",
    401: "Missing, invalid or expired credentials",
    403: "The caller's role does not allow this",
    404: "Not found (or belongs to another tenant)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Validation failed; details list each problem",
    429: "Too many requests; retry after the given seconds",
    500: "Unexpected error; details.request_id (also the X-Request-ID header) identifies it in the logs",
    503: "A dependency is unavailable",
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ErrorDetails(BaseModel):
    """``details`` of every error: the list of what is wrong, one shape for all errors."""

    # Always sent: required in the response schema, so typed clients need no optional chaining.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    problems: list[Problem] = Field(
        default_factory=list,
        description="Each thing wrong with the request: `code`, `message`, and `field` (a request field), "
        "`path` (a JSON pointer into a document) or `row`/`column` (an uploaded file's cell), plus "
        "typed context such as `allowed`, `maximum` or an id. An error about one thing has one problem.",
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    code: str = Field(examples=["not_found"], description="Stable machine-readable error code.")
    message: str = Field(examples=["Goal not found"], description="Human-readable explanation.")
    details: ErrorDetails = Field(default_factory=ErrorDetails, description="The problems, one per fault.")


class ErrorResponse(BaseModel):
    """Every error the API returns has this body."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


def common_error_responses() -> dict[int | str, dict[str, Any]]:
    """The statuses any operation can answer (the app documents them on every route)."""
    return error_responses(400, 500)


def error_body(code: str, message: str, problems: Sequence[Problem] | None = None) -> dict[str, Any]:
    """The envelope; without ``problems``, one problem repeating the error's code and message."""
    listed = [Problem(code=code, message=message)] if problems is None else problems
    return {"error": {"code": code, "message": message, "details": {"problems": [p.wire() for p in listed]}}}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _dyocense_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DyocenseError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        error_body(exc.code, exc.message, exc.problems), status_code=exc.status, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = Problem.from_pydantic(exc.errors())
    return JSONResponse(
        error_body("validation_failed", "The request is not valid; see details.problems", problems),
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI and Starlette answer 400 only for a body they cannot parse (bad UTF-8, nesting,
        # multipart); malformed JSON is already a 422, so all of them are the documented 422.
        problem = Problem(code="body_unparseable", message=str(exc.detail), location="body")
        return JSONResponse(
            error_body("validation_failed", "The request body cannot be parsed", [problem]),
            status_code=422,
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route for {request.method} {request.url.path}"
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


def _internal_error(request_id: str | None, *, with_request_id_header: bool) -> JSONResponse:
    return JSONResponse(
        error_body(
            "internal_error",
            "An unexpected error occurred. Quote the request id when reporting it.",
            [
                Problem.of(
                    "internal_error", "Quote the request id when reporting it.", {"request_id": request_id}
                )
            ],
        ),
        status_code=500,
        headers={"X-Request-ID": request_id} if request_id and with_request_id_header else None,
    )


# What a client should wait before retrying while PostgreSQL is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 3
# Exceptions that may be a lost connection; the handler tells those apart from other errors.
_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


class _OutageLog:
    """One loud line when requests start failing for want of the database, not one per request:
    a traceback per failed request is what kept the API busy long after PostgreSQL was back."""

    quiet_seconds = 30.0

    def __init__(self) -> None:
        self._last = float("-inf")
        self._suppressed = 0

    def failed(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last < self.quiet_seconds:
            self._suppressed += 1
            return
        logger.error(
            "database_unavailable",
            error=type(error).__name__,
            failed_requests_since_last_line=self._suppressed,
            note="requests answer 503 with Retry-After until PostgreSQL is reachable again",
        )
        self._last, self._suppressed = now, 0


_outage_log = _OutageLog()


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not is_connection_failure(exc):
        raise exc  # any other database error: the unexpected-error handler's 500
    _outage_log.failed(exc)
    return JSONResponse(
        error_body("database_unavailable", "The database is unavailable; retry in a few seconds."),
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


class UnexpectedErrorMiddleware:
    """Answers an unexpected exception with the 500 envelope, logged once, and keeps it here.

    Starlette's own last-resort handler re-raises after answering, and the server then logs
    the exception a second time and closes the client's keep-alive connection. Here the
    exception stops: one bounded log line with the request id, and the connection lives on.
    An error after the response started cannot become a 500: it goes on to the server, which
    closes the connection so the client sees a cut-off response, not a complete one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started and not finished:
                raise
            logger.error("unhandled_error", exc_type=type(error).__name__, exc_info=error)
            if not started:
                request_id = scope.get("state", {}).get("request_id")
                # The request middleware outside adds the X-Request-ID header.
                await _internal_error(request_id, with_request_id_header=False)(scope, receive, send)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Reached only by an error outside UnexpectedErrorMiddleware (in an outer middleware):
    # Starlette re-raises it after this answer, and the server logs it.
    return _internal_error(_request_id(request), with_request_id_header=True)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DyocenseError, _dyocense_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in _DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
    # Added before the other middleware, so it sits inside them (CORS headers reach the 500).
    app.add_middleware(UnexpectedErrorMiddleware)
