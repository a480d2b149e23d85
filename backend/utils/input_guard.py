"""The request side of the NUL rule (``backend.utils.text``), as one app-wide dependency.

``create_app`` installs ``reject_nul_text`` for every operation: path and query parameters,
JSON bodies at any depth (keys too) and form fields are checked before any route code runs,
so a route added tomorrow is covered without opting in.
"""

from __future__ import annotations

import json
import re

from fastapi import Request

from backend.services.errors import ValidationFailed
from backend.utils.text import NUL, NUL_MESSAGE, nul_paths

# In JSON text a NUL can only appear as the escape \u0000 (raw control characters are invalid
# JSON), preceded by an even number of backslashes; "\\u0000" is a backslash and "u0000".
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_REPORTED = 20


async def _body_paths(request: Request) -> list[list[str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith(_FORM_TYPES):
        form = await request.form()  # already parsed (and cached) for routes that take forms
        return [
            [key]
            for key, value in form.multi_items()
            if NUL in key or (isinstance(value, str) and NUL in value)
        ]
    body = await request.body()
    if not _JSON_NUL.search(body):  # the common case: one scan in C, no second decode
        return []
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: the route's own parsing reports it
    return list(nul_paths(decoded))


async def reject_nul_text(request: Request) -> None:
    """App-wide dependency: a 422 naming every parameter or body field that holds a NUL."""
    locations = [["path", name] for name, value in request.path_params.items() if NUL in str(value)]
    locations += [
        ["query", name] for name, value in request.query_params.multi_items() if NUL in name + value
    ]
    locations += [["body", *path] for path in await _body_paths(request)]
    if locations:
        raise ValidationFailed(
            "The request is not valid; see details.errors",
            details={
                "errors": [
                    {"location": location, "message": NUL_MESSAGE, "type": "string_nul"}
                    for location in locations[:MAX_REPORTED]
                ]
            },
        )
