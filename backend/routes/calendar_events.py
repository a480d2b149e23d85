"""Events a tenant marks (promotions, closures, Black Friday): regressors of its daily forecasts."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from backend.dependencies import AnalystPrincipal, CurrentPrincipal, PageParams, TenantSession
from backend.models import CalendarEvent
from backend.schemas.calendar_events import CalendarEventCreate, CalendarEventRead
from backend.schemas.common import Page
from backend.services.calendar_events import service
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(
    prefix="/api/v1/calendar-events", tags=["calendar events"], responses=error_responses(401, 422)
)


def _read(event: CalendarEvent) -> CalendarEventRead:
    return CalendarEventRead.from_row(event, start=event.start_date, end=event.end_date)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Mark an event (analyst)",
    description="Daily forecasts of the metric (or of every metric) take it as a regressor next to the "
    "public holidays: its effect is estimated from the days of history it covers and applied to its days "
    "in the forecast horizon, so mark past occurrences as well as coming ones.",
    responses=error_responses(403, 404),
)
async def create_event(
    body: CalendarEventCreate, session: TenantSession, principal: AnalystPrincipal
) -> CalendarEventRead:
    event = await service.create_event(
        session,
        name=body.name.strip(),
        start=body.start,
        end=body.end or body.start,
        metric=body.metric,
        created_by=principal.user_id,
    )
    return _read(event)


@router.get("", summary="List marked events, earliest first")
async def list_events(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    metric: Annotated[
        str | None, Query(max_length=100, description="Only events scoped to this metric.")
    ] = None,
    since: Annotated[date | None, Query(description="Only events ending on or after this day.")] = None,
) -> Page[CalendarEventRead]:
    """The events the tenant marked, earliest first, optionally only those of one `metric` or ending on or
    after `since`. Any role."""
    events, total = await service.list_events(session, metric=metric, since=since, window=page)
    return Page.of([_read(event) for event in events], total, page)


@router.get("/{event_id}", summary="Get a marked event", responses=error_responses(404))
async def get_event(
    event_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> CalendarEventRead:
    """One marked event (name, first and last day, metric or all metrics). 404 for an id that is not the
    tenant's."""
    return _read(await service.get_event(session, event_id))


@router.delete(
    "/{event_id}",
    **NO_CONTENT,
    summary="Delete a marked event (analyst)",
    responses=error_responses(403, 404),
)
async def delete_event(event_id: uuid.UUID, session: TenantSession, principal: AnalystPrincipal) -> None:
    """Analyst or above. Forecasts made from now on no longer use the event; stored forecasts keep what they
    used. 404 for an unknown id."""
    await service.delete_event(session, event_id)
