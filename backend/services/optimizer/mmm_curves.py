"""budget_allocation from a fitted marketing-mix model: ``"mmm_model_id"`` instead of hand-built curves.

Each channel's fitted saturation curve is the steady-state outcome per bucket of a sustained
spend per bucket (:func:`backend.services.evidence.mmm.period_response`). Over a planning
period of ``planning_days`` the budget on a channel is spread evenly over its buckets, and
the curve is sampled at ``CURVE_SEGMENTS`` equal steps from 0 to the whole budget: chords of
a concave curve have falling slopes, so the sampled curve is the concave piecewise-linear
form the template wants, and any split of the budget stays on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import ValidationFailed
from backend.services.evidence import mmm_service
from backend.services.evidence.mmm import period_response

CURVE_SEGMENTS = 20
DEFAULT_PLANNING_DAYS = 30
_DAYS_PER_BUCKET = {"D": 1.0, "day": 1.0, "W": 7.0, "week": 7.0}


def planning_buckets(frequency: str, days: float) -> float:
    """Buckets of the model's frequency in ``days`` (weekly unless daily)."""
    return days / _DAYS_PER_BUCKET.get(frequency, 7.0)


async def resolve_mmm_channels(session: AsyncSession, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with ``channels`` built from the model named by ``mmm_model_id`` (unchanged without it)."""
    resolved = dict(params)
    raw_id = resolved.get("mmm_model_id")
    # With channels already given (a stored run's or a what-if scenario's sampled curves), they stand.
    if raw_id is None or resolved.get("channels"):
        return resolved
    try:
        model_id = uuid.UUID(str(raw_id))
        days = float(resolved.setdefault("planning_days", DEFAULT_PLANNING_DAYS))
        budget = float(resolved["total_budget"])
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        raise ValidationFailed(
            "mmm_model_id must be a model id, planning_days a number of days and total_budget a number.",
            context={"mmm_model_id": str(raw_id)},
        ) from exc
    if days <= 0 or budget <= 0:
        raise ValidationFailed(
            "planning_days and total_budget must be positive.",
            context={"planning_days": days, "total_budget": budget},
        )
    model = await mmm_service.get_model(session, model_id)
    fitted = mmm_service.model_fit(model)
    buckets = planning_buckets(model.frequency, days)
    spends = [budget * k / CURVE_SEGMENTS for k in range(CURVE_SEGMENTS + 1)]
    resolved["channels"] = [
        {
            "name": channel.name,
            "response_curve": [
                {"spend": spend, "revenue": period_response(channel, spend, buckets)} for spend in spends
            ],
        }
        for channel in fitted.channels
    ]
    return resolved
