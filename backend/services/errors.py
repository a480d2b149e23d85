"""The service layer's exception hierarchy.

Services (and the pure compute modules under them) raise these; one handler in
``backend.utils.error_handlers`` turns them into the JSON body
``{"error": {"code", "message", "details"}}`` with the matching HTTP status.
Nothing here knows about HTTP beyond the status number it carries.
"""

from __future__ import annotations

from typing import Any


class DyocenseError(Exception):
    """Base of every error a client is meant to see.

    A subclass names its HTTP status and default code in its header:
    ``class NotFound(DyocenseError, status=404, code="not_found")``.
    """

    status: int = 400
    code: str = "bad_request"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}


class ValidationFailed(DyocenseError, status=422, code="validation_failed"):
    """Input is well-formed but breaks a rule (too little history, bad rows, …)."""


class NotFound(DyocenseError, status=404, code="not_found"):
    """The resource does not exist *for this tenant* (another tenant's row is not found)."""


class Conflict(DyocenseError, status=409, code="conflict"):
    """The request clashes with the current state (a duplicate name, a finished goal, …)."""


class Unauthorized(DyocenseError, status=401, code="unauthorized"):
    """Missing, invalid or expired credentials."""


class Forbidden(DyocenseError, status=403, code="forbidden"):
    """Authenticated, but the role does not allow it."""


class RateLimited(DyocenseError, status=429, code="rate_limited"):
    """Too many attempts; ``retry_after`` seconds until the next one may succeed."""

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after, **(details or {})})
        self.retry_after = retry_after


class Unavailable(DyocenseError, status=503, code="unavailable"):
    """A dependency (database, LLM, solver) cannot serve right now."""


class PayloadTooLarge(DyocenseError, status=413, code="payload_too_large"):
    """The request body (an upload, a batch) is over its documented limit."""


class OperationFailed(Exception):
    """A background operation (a job, a connector sync or test) failed for a reason the user can
    act on. It is recorded on the operation's status resource rather than raised to a client;
    ``retryable`` says whether trying again later may help."""

    default_code = "operation_failed"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = details or {}
        self.retryable = retryable

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}
