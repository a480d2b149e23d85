"""Insights: metrics you follow, the insight feed, and running the insight engine."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse

from backend.dependencies import (
    AnalystCompute,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
from backend.routes.jobs import background_responses, done_or_accepted
from backend.schemas.common import Page
from backend.schemas.insights import (
    FollowCreate,
    FollowRead,
    InsightRead,
    InsightRunRead,
    InsightRunRequest,
    SnoozeRequest,
)
from backend.services.insights import feed
from backend.services.insights.feed import FeedItem
from backend.services.insights.repository import FeedFilter
from backend.services.insights.service import RunSummary
from backend.services.insights.types import InsightType
from backend.services.metrics.types import METRIC_NAME_PATTERN
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(prefix="/api/v1/insights", tags=["insights"], responses=error_responses(401, 422))

MetricName = Annotated[str, Path(pattern=METRIC_NAME_PATTERN)]


def _read(item: FeedItem) -> InsightRead:
    state = item.state
    return InsightRead.from_row(
        item.insight,
        read_at=state.read_at if state is not None else None,
        snoozed_until=state.snoozed_until if state is not None else None,
    )


@router.post(
    "/follows",
    status_code=status.HTTP_201_CREATED,
    summary="Follow a metric",
    responses=error_responses(404, 409),
)
async def follow_metric(
    body: FollowCreate, session: TenantSession, principal: CurrentPrincipal
) -> FollowRead:
    """The insight engine watches every metric someone follows. 404 for a metric the tenant does not
    have; 409 when you already follow it."""
    return FollowRead.from_row(await feed.follow(session, principal.actor_id, body.metric))


@router.get("/follows", summary="Metrics you follow")
async def list_follows(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[FollowRead]:
    """The metrics the caller follows (each person has their own list), newest first. The insight engine
    watches followed metrics."""
    follows, total = await feed.list_follows(session, principal.actor_id, page)
    return Page.of([FollowRead.from_row(f) for f in follows], total, page)


@router.delete(
    "/follows/{metric}",
    **NO_CONTENT,
    summary="Stop following a metric",
    responses=error_responses(404),
)
async def unfollow_metric(metric: MetricName, session: TenantSession, principal: CurrentPrincipal) -> None:
    """Removes the metric from the caller's follows; insights already found stay in the feed. 404 when the
    caller does not follow it."""
    await feed.unfollow(session, principal.actor_id, metric)


@router.get("", summary="Your insight feed, newest first")
async def list_insights(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    insight_type: Annotated[InsightType | None, Query(alias="type", description="Only this type.")] = None,
    metric: Annotated[str | None, Query(pattern=METRIC_NAME_PATTERN, description="Only this metric.")] = None,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only.")] = None,
    followed: Annotated[
        bool, Query(description="Only metrics you follow (and connector health, which has no metric).")
    ] = False,
    include_snoozed: Annotated[bool, Query(description="Also insights you snoozed.")] = False,
) -> Page[InsightRead]:
    """The tenant's insights with your read and snooze state; snoozed ones are left out until then."""
    filters = FeedFilter(
        type=insight_type, metric=metric, unread=unread, followed=followed, include_snoozed=include_snoozed
    )
    items, total = await feed.feed(session, principal.actor_id, filters, page)
    return Page.of([_read(item) for item in items], total, page)


@router.get("/{insight_id}", summary="One insight", responses=error_responses(404))
async def get_insight(
    insight_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> InsightRead:
    """One insight with its numbers, the analysis behind it, the suggested next action and the caller's read
    and snooze state. 404 for an id that is not the tenant's."""
    return _read(await feed.get_item(session, principal.actor_id, insight_id))


@router.post("/{insight_id}/read", summary="Mark an insight read", responses=error_responses(404))
async def mark_read(
    insight_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> InsightRead:
    """Marks the insight read for the caller (other people keep their own state); repeating it changes
    nothing. Returns the insight."""
    return _read(await feed.mark_read(session, principal.actor_id, insight_id))


@router.post(
    "/{insight_id}/snooze",
    summary="Hide an insight from your feed until a time",
    responses=error_responses(404),
)
async def snooze_insight(
    insight_id: uuid.UUID, body: SnoozeRequest, session: TenantSession, principal: CurrentPrincipal
) -> InsightRead:
    """`until` must be in the future and at most 90 days ahead (422 otherwise). The feed shows the
    insight again from then on, or with `include_snoozed=true`."""
    return _read(await feed.snooze(session, principal.actor_id, insight_id, body.until))


def _run_read(summary: RunSummary) -> InsightRunRead:
    return InsightRunRead.model_validate(summary, from_attributes=True)


@router.post(
    "/run",
    response_model=InsightRunRead,
    summary="Run the insight engine now (analyst)",
    responses=background_responses(403, 409),
)
async def run_insights(
    compute: AnalystCompute,
    body: InsightRunRequest | None = None,
) -> InsightRunRead | JSONResponse:
    """Every followed metric (or, when nobody follows any, every metric with a favourable direction),
    every active goal and connector. Runs in the request up to 25 metrics; beyond that, or with
    `async: true`, it is queued: 202 with the job id (409 while another queued run of the tenant is
    still waiting). Findings already stored are not stored again."""
    wants_job = body.run_async if body is not None else False
    outcome = await feed.run_now_or_queue(compute.session, compute.pool, compute.requester(wants_job))
    return done_or_accepted(outcome, _run_read)
