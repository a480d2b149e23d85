"""The service layer's exception hierarchy.

Services (and the pure compute modules under them) raise these; one handler in
``backend.utils.error_handlers`` turns them into the JSON body
``{"error": {"code", "message", "details": {"problems": [...]}}}`` with the matching HTTP status.
Nothing here knows about HTTP beyond the status number it carries.

Every error's ``details`` has one shape: ``problems``, a list of :class:`Problem`. An error
about one thing carries one problem built from its own code and message plus the keyword
``context`` it was raised with (``field``, limits, ids); an error about many things (the bad
rows of an upload, each invalid field of a body) passes ``problems=`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict, Unpack

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import ErrorDetails

Location = Literal["body", "query", "path", "header", "cookie"]
_LOCATIONS: frozenset[str] = frozenset(("body", "query", "path", "header", "cookie"))


class Problem(BaseModel):
    """One thing wrong with a request: what it is about, a stable code and a readable message.

    ``field`` names a request field (dotted for nested body fields, e.g. ``points.3.ts``),
    ``path`` a JSON pointer into a document the request carries (``/channels/0/budget``),
    ``row``/``column`` a cell of an uploaded file (the header is row 1). Any further keys are
    typed context for that problem (``allowed``, ``maximum``, ``needed``, ids …).
    """

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["missing"], description="Stable machine-readable code of this problem.")
    message: str = Field(examples=["Field required"], description="Human-readable explanation.")
    field: str | None = Field(default=None, examples=["metric"], description="The request field at fault.")
    location: Location | None = Field(
        default=None, description="Where that field was sent (request validation only)."
    )
    path: str | None = Field(default=None, description="JSON pointer into a document in the request.")
    row: int | None = Field(default=None, description="Line of an uploaded file; the header is row 1.")
    column: str | None = Field(default=None, description="Column of an uploaded file.")

    def wire(self) -> dict[str, Any]:
        """The JSON form: unset typed keys left out, context keys kept."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def of(cls, code: str, message: str, context: Mapping[str, object] | None = None) -> Problem:
        return cls.model_validate({**(context or {}), "code": code, "message": message})

    @classmethod
    def cell(cls, row: int, column: str | None, message: str, *, code: str = "invalid_cell") -> Problem:
        return cls(code=code, message=message, row=row, column=column)

    @classmethod
    def at(cls, loc: Sequence[str | int], code: str, message: str) -> Problem:
        """A problem at a pydantic-style ``loc``: ``("body", "points", 3, "ts")`` becomes
        ``location="body"``, ``field="points.3.ts"``."""
        parts = [str(part) for part in loc]
        location = parts[0] if parts and parts[0] in _LOCATIONS else None
        names = parts[1:] if location else parts
        return cls.model_validate(
            {"code": code, "message": message, "field": ".".join(names) or None, "location": location}
        )

    @classmethod
    def from_pydantic(cls, errors: Iterable[ErrorDetails], *, prefix: Sequence[str] = ()) -> list[Problem]:
        """Pydantic's validation errors as problems (see :meth:`at`), under ``prefix``."""
        return [cls.at([*prefix, *error["loc"]], error["type"], error["msg"]) for error in errors]

    @classmethod
    def at_pointers(cls, errors: Iterable[ErrorDetails], *, base: str = "") -> list[Problem]:
        """Pydantic's errors on a document as problems with a JSON-pointer ``path`` under ``base``."""
        return [
            cls(
                code=error["type"],
                message=error["msg"],
                path="/".join([base, *(str(part) for part in error["loc"])]) or "/",
            )
            for error in errors
        ]


def _problem_list(
    code: str, message: str, problems: Sequence[Problem] | None, context: Mapping[str, object] | None
) -> list[Problem]:
    if problems is not None:
        return list(problems)
    return [Problem.of(code, message, context)]


class ErrorParts(TypedDict, total=False):
    """What an error tells besides its message (see :class:`_ProblemError`)."""

    code: str | None
    context: Mapping[str, object] | None
    problems: Sequence[Problem] | None


class _ProblemError(Exception):
    """An error told as the envelope tells it: a message, a code, its context and its problems."""

    code: str

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        context: Mapping[str, object] | None = None,
        problems: Sequence[Problem] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.context: dict[str, object] = dict(context or {})
        self.problems = _problem_list(self.code, message, problems, context)

    @property
    def details(self) -> dict[str, Any]:
        """The envelope's ``details``: ``{"problems": [...]}``."""
        return {"problems": [problem.wire() for problem in self.problems]}


class DyocenseError(_ProblemError):
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

    def __init__(
        self, message: str, *, retry_after: int, context: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message, context={"retry_after_seconds": retry_after, **(context or {})})
        self.retry_after = retry_after


class Unavailable(DyocenseError, status=503, code="unavailable"):
    """A dependency (database, LLM, solver) cannot serve right now."""


class PayloadTooLarge(DyocenseError, status=413, code="payload_too_large"):
    """The request body (an upload, a batch) is over its documented limit."""


class OperationFailed(_ProblemError):
    """A background operation (a job, a connector sync or test) failed for a reason the user can
    act on. It is recorded on the operation's status resource rather than raised to a client;
    ``retryable`` says whether trying again later may help."""

    default_code = "operation_failed"

    def __init__(self, message: str, *, retryable: bool = False, **parts: Unpack[ErrorParts]) -> None:
        parts["code"] = parts.get("code") or self.default_code
        super().__init__(message, **parts)
        self.retryable = retryable

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}
