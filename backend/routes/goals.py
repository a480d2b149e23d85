"""SMART goals and their computed progress."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from backend.agents import goal_planner
from backend.agents.types import Citations
from backend.dependencies import AnalystPrincipal, AppComputePool, CurrentPrincipal, PageParams, TenantSession
from backend.routes import examples
from backend.schemas.common import Page
from backend.schemas.goals import (
    GoalCreate,
    GoalCreated,
    GoalPlanRead,
    GoalPlanRequest,
    GoalProgressRead,
    GoalRead,
    GoalStatusChangeRead,
    GoalStatusValue,
    GoalUpdate,
)
from backend.services.errors import ValidationFailed
from backend.services.goals import export, planning, service
from backend.services.goals.service import GoalDraft
from backend.services.goals.types import ExportFormat
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(prefix="/api/v1/goals", tags=["goals"], responses=error_responses(401, 422))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a SMART goal",
    responses=error_responses(403),
)
async def create_goal(
    body: Annotated[GoalCreate, Body(openapi_examples=examples.GOAL)],
    session: TenantSession,
    principal: AnalystPrincipal,
) -> GoalCreated:
    """The metric must exist, the deadline be in the future and the target differ from the baseline
    (computed from history unless given). Implausible targets are accepted with warnings."""
    goal, warnings = await service.create_goal(session, principal, GoalDraft(**body.model_dump()))
    return GoalCreated(**GoalRead.model_validate(goal).model_dump(), warnings=warnings)


@router.post("/plan", summary="Draft SMART goals for an objective (not saved)")
async def plan_goal_drafts(
    body: Annotated[GoalPlanRequest, Body(openapi_examples=examples.GOAL_PLAN)],
    session: TenantSession,
    principal: CurrentPrincipal,
) -> GoalPlanRead:
    """Baseline from the metric's last complete period; targets from the objective's stated change and from
    the history (median and best sustained change, compounded to the deadline); plausibility warnings.
    Accept a draft by POSTing its `goal` to `/api/v1/goals`."""
    request = await goal_planner.read_objective(
        session,
        body.objective,
        metric=body.metric,
        change_percent=body.change_percent,
        deadline=body.deadline,
        period=body.period,
    )
    citations = Citations(goal_planner.AGENT)
    plan = await planning.plan_goals(session, request, citations)
    if plan.status != "ok":
        raise ValidationFailed(plan.report[-1], context={"needs": plan.needs})
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
            "citations": [c.as_dict() for c in citations.items],
        }
    )


@router.get("", summary="List goals")
async def list_goals(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    status_filter: Annotated[GoalStatusValue | None, Query(alias="status")] = None,
    metric: Annotated[str | None, Query()] = None,
) -> Page[GoalRead]:
    """The tenant's goals, newest first, optionally only those with a `status` (active, achieved, missed,
    abandoned) or on one `metric`. Any role. Progress is computed by `GET
    /api/v1/goals/{goal_id}/progress`."""
    goals, total = await service.list_goals(session, status=status_filter, metric=metric, window=page)
    return Page.of([GoalRead.model_validate(g) for g in goals], total, page)


@router.get("/{goal_id}", summary="Get a goal", responses=error_responses(404))
async def get_goal(goal_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> GoalRead:
    """A goal's definition: metric, target, period, direction, baseline, deadline and status. 404 for an id
    that is not one of the tenant's goals."""
    return GoalRead.model_validate(await service.get_goal(session, goal_id))


@router.patch("/{goal_id}", summary="Update a goal", responses=error_responses(403, 404, 409))
async def update_goal(
    goal_id: uuid.UUID, body: GoalUpdate, session: TenantSession, principal: AnalystPrincipal
) -> GoalRead:
    """Analyst or above. Changes the fields sent (title, target, deadline, status, …). Status moves by hand
    are draft ↔ active → abandoned → active; 409 for any other (achieved and missed are set by the data,
    `details.allowed` lists the moves); 422 for a target equal to the baseline or a deadline not in the
    future. Returns the goal."""
    goal = await service.update_goal(session, goal_id, body.model_dump(exclude_unset=True))
    return GoalRead.model_validate(goal)


@router.delete(
    "/{goal_id}",
    **NO_CONTENT,
    summary="Delete a goal",
    responses=error_responses(403, 404),
)
async def delete_goal(goal_id: uuid.UUID, session: TenantSession, principal: AnalystPrincipal) -> None:
    """Analyst or above. Removes the goal and its status history; the metric's data stays. 404 for an
    unknown id."""
    await service.delete_goal(session, goal_id)


_EXPORT_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}
    },
}


@router.get(
    "/{goal_id}/progress",
    response_model=GoalProgressRead,
    summary="Progress computed from the metric (JSON, CSV or xlsx)",
    responses={**error_responses(404), 200: {"content": _EXPORT_CONTENT}},
)
async def goal_progress(
    goal_id: uuid.UUID,
    session: TenantSession,
    principal: CurrentPrincipal,
    pool: AppComputePool,
    file_format: Annotated[
        ExportFormat,
        Query(alias="format", description="json (default), or a csv / xlsx file of the periods."),
    ] = "json",
) -> GoalProgressRead | Response:
    """Current value, percent complete, the pace of the period in progress (days with data only), the
    forecaster's projection to the deadline with its 80% and 95% intervals (a trend line when the
    forecaster refuses, said in `projection.note`), and a signal judged on that interval. An active
    goal becomes achieved or missed when the data says so; a change of signal is kept in its history.
    In a CSV or xlsx file, cells that would read as formulas are written as text."""
    goal, progress = await service.goal_progress(session, pool, goal_id)
    if file_format != "json":
        file = export.render(goal, progress, file_format)
        disposition = f'attachment; filename="{file.filename}"'
        return Response(
            file.content, media_type=file.media_type, headers={"Content-Disposition": disposition}
        )
    return GoalProgressRead.model_validate(
        {
            "goal": GoalRead.model_validate(goal),
            **{field: getattr(progress, field) for field in _PROGRESS_FIELDS},
        },
        from_attributes=True,
    )


_PROGRESS_FIELDS = (
    "direction",
    "current_value",
    "percent_complete",
    "current_period",
    "latest_complete",
    "reached",
    "trend_per_period",
    "expected_at_deadline",
    "projection",
    "signal",
    "explanation",
    "history",
)


@router.get(
    "/{goal_id}/history",
    summary="Changes of the goal's computed status, newest first",
    responses=error_responses(404),
)
async def goal_status_history(
    goal_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[GoalStatusChangeRead]:
    """One entry each time the computed signal changed (recorded when progress is computed)."""
    changes, total = await service.status_history(session, goal_id, window=page)
    return Page.of([GoalStatusChangeRead.model_validate(c) for c in changes], total, page)
