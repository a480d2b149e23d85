"""SMART goals and their computed progress."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from backend.agents.goal_planner import plan_goals
from backend.dependencies import AnalystPrincipal, CurrentPrincipal, PageParams, TenantSession
from backend.schemas.common import Page
from backend.schemas.goals import (
    GoalCreate,
    GoalCreated,
    GoalPlanRead,
    GoalPlanRequest,
    GoalProgressRead,
    GoalRead,
    GoalStatusValue,
    GoalUpdate,
)
from backend.services.errors import ValidationFailed
from backend.services.goals import service
from backend.services.goals.service import GoalDraft
from backend.utils.error_handlers import error_responses

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


@router.post("/plan", response_model=GoalPlanRead, summary="Draft SMART goals for an objective (not saved)")
async def plan_goal_drafts(
    body: GoalPlanRequest, session: TenantSession, principal: CurrentPrincipal
) -> GoalPlanRead:
    """Baseline from the metric's last complete period; targets from the objective's stated change and from
    the history (median and best sustained change, compounded to the deadline); plausibility warnings.
    Accept a draft by POSTing its `goal` to `/api/v1/goals`."""
    plan = await plan_goals(
        session,
        body.objective,
        metric=body.metric,
        change_percent=body.change_percent,
        deadline=body.deadline,
        period=body.period,
    )
    if plan.status != "ok":
        raise ValidationFailed(plan.report[-1], details={"needs": plan.needs})
    return GoalPlanRead.model_validate(
        {
            "objective": plan.objective,
            "metric": plan.metric,
            "period": plan.period,
            "aggregation": plan.aggregation,
            "baseline_value": plan.baseline_value,
            "baseline_start": plan.baseline_start,
            "baseline_end": plan.baseline_end,
            "deadline": plan.deadline,
            "drafts": [draft.__dict__ for draft in plan.drafts],
            "report": plan.report,
            "citations": [c.as_dict() for c in plan.citations.items],
        }
    )


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
