"""Every query of the calendar events feature (tenant-scoped: RLS plus the tenant in every WHERE)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import CalendarEvent
from backend.utils.repository import PageWindow, delete_row, paginate, tenant_select, where_given

# A metric's forecast reads at most this many events (the newest first).
MAX_EVENTS_PER_FORECAST = 5000


async def list_events(
    session: AsyncSession, window: PageWindow, *, metric: str | None, since: date | None
) -> tuple[list[CalendarEvent], int]:
    statement = where_given(tenant_select(session, CalendarEvent), (CalendarEvent.metric, metric))
    if since is not None:
        statement = statement.where(CalendarEvent.end_date >= since)
    order = (CalendarEvent.start_date, CalendarEvent.name, CalendarEvent.id)
    return await paginate(session, statement, order_by=order, window=window)


async def events_for_metric(session: AsyncSession, metric: str) -> list[CalendarEvent]:
    """The events a forecast of ``metric`` uses: those scoped to it and those for every metric."""
    statement = (
        tenant_select(session, CalendarEvent)
        .where(or_(CalendarEvent.metric.is_(None), CalendarEvent.metric == metric))
        .order_by(CalendarEvent.start_date.desc(), CalendarEvent.id)
        .limit(MAX_EVENTS_PER_FORECAST)
    )
    return list((await session.scalars(statement)).all())


async def add(session: AsyncSession, event: CalendarEvent) -> CalendarEvent:
    session.add(event)
    await session.flush()
    await session.refresh(event)
    return event


async def delete(session: AsyncSession, event: CalendarEvent) -> None:
    await delete_row(session, event)
