"""SMART goals and their computed progress."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from backend.dependencies import AnalystPrincipal, CurrentPrincipal, PageParams, TenantSession
from backend.schemas.common import Page
from backend.schemas.goals import (
    GoalCreate,
    GoalCreated,
    GoalProgressRead,
    GoalRead,
    GoalStatusValue,
    GoalUpdate,
)
from backend.services.goals import service
from backend.services.goals.service import GoalDraft
from backend.utils.errors import error_responses

router = APIRouter(prefix="/api/v1/goals", tags=["goals"], responses=error_responses(401, 422))


@router.post(
    "",
    response_model=GoalCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a SMART goal",
    responses=error_responses(403),
)
async def create_goal(body: GoalCreate, session: TenantSession, principal: AnalystPrincipal) -> GoalCreated:
    """The metric must exist, the deadline be in the future and the target differ from the baseline
    (computed from history unless given). Implausible targets are accepted with warnings."""
    goal, warnings = await service.create_goal(session, principal, GoalDraft(**body.model_dump()))
    return GoalCreated(**GoalRead.model_validate(goal).model_dump(), warnings=warnings)


@router.get("", response_model=Page[GoalRead], summary="List goals")
async def list_goals(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    status_filter: Annotated[GoalStatusValue | None, Query(alias="status")] = None,
    metric: Annotated[str | None, Query()] = None,
) -> Page[GoalRead]:
    goals, total = await service.list_goals(
        session, status=status_filter, metric=metric, limit=page.limit, offset=page.offset
    )
    return Page(
        items=[GoalRead.model_validate(g) for g in goals], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{goal_id}", response_model=GoalRead, summary="Get a goal", responses=error_responses(404))
async def get_goal(goal_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> GoalRead:
    return GoalRead.model_validate(await service.get_goal(session, goal_id))


@router.patch(
    "/{goal_id}", response_model=GoalRead, summary="Update a goal", responses=error_responses(403, 404, 409)
)
async def update_goal(
    goal_id: uuid.UUID, body: GoalUpdate, session: TenantSession, principal: AnalystPrincipal
) -> GoalRead:
    goal = await service.update_goal(session, goal_id, body.model_dump(exclude_unset=True))
    return GoalRead.model_validate(goal)


@router.delete(
    "/{goal_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a goal",
    responses=error_responses(403, 404),
)
async def delete_goal(goal_id: uuid.UUID, session: TenantSession, principal: AnalystPrincipal) -> Response:
    await service.delete_goal(session, goal_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{goal_id}/progress",
    response_model=GoalProgressRead,
    summary="Progress computed from the metric",
    responses=error_responses(404),
)
async def goal_progress(
    goal_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> GoalProgressRead:
    """Current value, percent of the way from baseline to target, the trend and where it lands by the
    deadline, and a signal. An active goal becomes achieved or missed when the data says so."""
    goal, progress = await service.goal_progress(session, goal_id)
    return GoalProgressRead(
        goal=GoalRead.model_validate(goal),
        direction=progress.direction,
        current_value=progress.current_value,
        percent_complete=progress.percent_complete,
        current_period=progress.current_period,
        latest_complete=progress.latest_complete,
        trend_per_period=progress.trend_per_period,
        expected_at_deadline=progress.expected_at_deadline,
        signal=progress.signal,
        explanation=progress.explanation,
        history=progress.history,
    )
