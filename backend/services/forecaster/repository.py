"""Queries of the forecaster feature."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Forecast
from backend.utils.database import session_tenant


async def add(session: AsyncSession, forecast: Forecast) -> None:
    forecast.tenant_id = session_tenant(session)
    session.add(forecast)
    await session.flush()
    await session.refresh(forecast)


async def get(session: AsyncSession, forecast_id: uuid.UUID) -> Forecast | None:
    return await session.get(Forecast, (session_tenant(session), forecast_id))


async def list_forecasts(
    session: AsyncSession, *, metric: str | None, limit: int, offset: int
) -> tuple[list[Forecast], int]:
    statement = select(Forecast).where(Forecast.tenant_id == session_tenant(session))
    if metric is not None:
        statement = statement.where(Forecast.metric == metric)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.scalars(
        statement.order_by(Forecast.created_at.desc(), Forecast.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)
