"""Queries of the goals feature."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import GoalStatusChange, SmartGoal
from backend.utils.repository import (
    PageWindow,
    get_by_id,
    paginate,
    tenant_filter,
    tenant_select,
    where_given,
)


async def get_goal(session: AsyncSession, goal_id: uuid.UUID) -> SmartGoal | None:
    return await get_by_id(session, SmartGoal, goal_id)


async def list_goals(
    session: AsyncSession, window: PageWindow, *, status: str | None, metric: str | None
) -> tuple[list[SmartGoal], int]:
    statement = where_given(
        tenant_select(session, SmartGoal), (SmartGoal.status, status), (SmartGoal.metric, metric)
    )
    order = (SmartGoal.deadline, SmartGoal.created_at, SmartGoal.id)
    return await paginate(session, statement, order_by=order, window=window)


async def lock_goal(session: AsyncSession, goal_id: uuid.UUID) -> None:
    """Hold the goal's row until the transaction ends (``FOR UPDATE``)."""
    await session.execute(
        select(SmartGoal.id)
        .where(tenant_filter(session, SmartGoal), SmartGoal.id == goal_id)
        .with_for_update()
    )


async def latest_status(session: AsyncSession, goal_id: uuid.UUID) -> GoalStatusChange | None:
    statement = (
        tenant_select(session, GoalStatusChange)
        .where(GoalStatusChange.goal_id == goal_id)
        .order_by(GoalStatusChange.recorded_at.desc(), GoalStatusChange.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)


async def status_history(
    session: AsyncSession, goal_id: uuid.UUID, window: PageWindow
) -> tuple[list[GoalStatusChange], int]:
    statement = tenant_select(session, GoalStatusChange).where(GoalStatusChange.goal_id == goal_id)
    order = (GoalStatusChange.recorded_at.desc(), GoalStatusChange.id.desc())
    return await paginate(session, statement, order_by=order, window=window)
