"""JSON responses: large bodies built as plain data, and stored resources with an ETag.

FastAPI validates a returned body against the route's ``response_model`` and serializes it
again: for a rollup of thousands of buckets that doubles the work of the request. Routes
that build a big body from rows can return ``fast_json(body)`` instead: the route's
``response_model`` still documents the shape in OpenAPI, and the route's tests validate
real bodies against that model. Timestamps and floats come out as pydantic writes them
(``Z`` for UTC, shortest float repr).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Final, TypedDict

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel


def fast_json(body: Any, status_code: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z), status_code=status_code, media_type="application/json"
    )


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for this header)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(","))


def conditional_json(request: Request, model: BaseModel, *, tenant_id: uuid.UUID) -> Response:
    """A stored resource as JSON with an ETag, ``Cache-Control: private, no-cache``, and 304.

    The tag is a hash of the tenant and the body: any change to what the client would see
    gives a new tag, and two tenants' resources never share one. ``private``: shared caches
    must not keep it (it is one tenant's data behind a credential); ``no-cache``: the client
    asks again each time, and a matching ``If-None-Match`` gets 304 with no body. The tag is
    weak (``W/``): the gzip layer may re-encode the body it names.
    """
    body = model.model_dump_json(by_alias=True).encode()
    digest = hashlib.blake2b(tenant_id.bytes + body, digest_size=16).hexdigest()
    headers = {"ETag": f'W/"{digest}"', "Cache-Control": "private, no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


# For a route's ``responses=``: the answer to a conditional GET that names the current ETag.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` names the current `ETag` (no body)."}
}


class NoContentRoute(TypedDict):
    status_code: int
    response_class: type[Response]


# For a route decorator (``**NO_CONTENT``): the operation answers 204 with no body; its endpoint
# returns None.
NO_CONTENT: Final[NoContentRoute] = {"status_code": 204, "response_class": Response}
