"""CORS whose refusals speak the API's error envelope.

Starlette's ``CORSMiddleware`` answers a refused preflight with a plain-text 400 ("Disallowed CORS
origin"); a single-page app's developer then sees the one non-JSON error of the API. This
subclass keeps Starlette's decision and headers and only rewrites that body as
``{"error": {"code": "cors_rejected", …, "details": {"problems": [...]}}}``, one problem per
refused part of the request (origin, method, headers, private network).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response

from backend.services.errors import Problem
from backend.utils.error_handlers import error_body

_REFUSED_PREFIX = "Disallowed CORS "
# Starlette's failure word -> (the request header at fault, problem code, message).
_FAILURES: dict[str, tuple[str, str, str]] = {
    "origin": ("Origin", "origin_not_allowed", "This origin is not among the allowed CORS origins."),
    "method": ("Access-Control-Request-Method", "method_not_allowed", "This method is not allowed."),
    "headers": ("Access-Control-Request-Headers", "header_not_allowed", "A requested header is not allowed."),
    "private-network": (
        "Access-Control-Request-Private-Network",
        "private_network_not_allowed",
        "Private-network access is not allowed.",
    ),
}
_UNKNOWN = ("Origin", "cors_rejected", "The cross-origin request is not allowed.")


def refusal_problems(text: str) -> list[Problem]:
    """Problems for Starlette's refusal text (``Disallowed CORS origin, headers``)."""
    words = text.removeprefix(_REFUSED_PREFIX).split(", ") if text.startswith(_REFUSED_PREFIX) else []
    faults = [_FAILURES.get(word, _UNKNOWN) for word in words] or [_UNKNOWN]
    return [
        Problem(code=code, message=message, field=header, location="header")
        for header, code, message in faults
    ]


class EnvelopeCORSMiddleware(CORSMiddleware):
    """``CORSMiddleware`` with its refused preflight answered in the error envelope."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        problems = refusal_problems(bytes(response.body).decode("utf-8", "replace"))
        kept = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return JSONResponse(
            error_body("cors_rejected", "This cross-origin request is not allowed.", problems),
            status_code=response.status_code,
            headers=kept,
        )
