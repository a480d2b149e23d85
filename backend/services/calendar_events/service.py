"""Calendar event rules: an event spans at most a year, and names a metric the tenant has (or none).

Events sharing a name are one regressor of a daily forecast: the effect of "Black Friday" is
estimated from its past occurrences and applied to the ones marked ahead (``forecaster.calendar``).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import CalendarEvent
from backend.services.calendar_events import repository
from backend.services.errors import NotFound, ValidationFailed
from backend.services.metrics import reader as metrics_reader
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, get_or_404

# An event is a day or a season of days (a promotion, a closure); longer spans are trends.
MAX_EVENT_DAYS = 366


async def create_event(
    session: AsyncSession,
    *,
    name: str,
    start: date,
    end: date,
    metric: str | None,
    created_by: uuid.UUID | None,
) -> CalendarEvent:
    if end < start:
        raise ValidationFailed(
            "The event ends before it starts.", context={"start": start.isoformat(), "end": end.isoformat()}
        )
    days = (end - start).days + 1
    if days > MAX_EVENT_DAYS:
        raise ValidationFailed(
            f"An event spans at most {MAX_EVENT_DAYS} days; this one spans {days}.",
            context={"days": days, "maximum": MAX_EVENT_DAYS},
        )
    if metric is not None and await metrics_reader.definition(session, metric) is None:
        raise NotFound(f"Metric {metric!r} not found", context={"metric": metric})
    event = CalendarEvent(
        tenant_id=session_tenant(session),
        name=name,
        start_date=start,
        end_date=end,
        metric=metric,
        created_by=created_by,
    )
    return await repository.add(session, event)


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> CalendarEvent:
    return await get_or_404(session, CalendarEvent, event_id, "Event not found", {"event_id": str(event_id)})


async def list_events(
    session: AsyncSession, window: PageWindow, *, metric: str | None, since: date | None
) -> tuple[list[CalendarEvent], int]:
    return await repository.list_events(session, window, metric=metric, since=since)


async def delete_event(session: AsyncSession, event_id: uuid.UUID) -> None:
    await repository.delete(session, await get_event(session, event_id))


async def events_for_metric(session: AsyncSession, metric: str) -> list[CalendarEvent]:
    """The events a forecast of ``metric`` takes: scoped to it, or to every metric."""
    return await repository.events_for_metric(session, metric)
