"""Features that are designed but not built yet answer 501 with a clear message.

Each entry is removed when its router lands; until then a client gets an honest
"not implemented" instead of a 404 or an invented answer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend.services.errors import NotImplementedYet

PLANNED_FEATURES: dict[str, str] = {
    "forecasts": "The forecaster",
    # routes/coach.py (registered first) serves usage, sessions and search; chat still answers 501 here.
    "coach": "The AI coach's chat",
}

router = APIRouter()


def _not_built(feature: str, description: str) -> None:
    async def endpoint(request: Request, rest: str = "") -> None:
        raise NotImplementedYet(
            f"{description} is not available in this version yet",
            details={"feature": feature},
        )

    path = f"/api/v1/{feature}"
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    router.add_api_route(path, endpoint, methods=methods, include_in_schema=False, name=f"planned_{feature}")
    router.add_api_route(
        path + "/{rest:path}",
        endpoint,
        methods=methods,
        include_in_schema=False,
        name=f"planned_{feature}_sub",
    )


for _feature, _description in PLANNED_FEATURES.items():
    _not_built(_feature, _description)
