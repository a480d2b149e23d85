"""Queries of the goals feature."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import GoalStatusChange, SmartGoal
from backend.utils.database import session_tenant


async def get_goal(session: AsyncSession, goal_id: uuid.UUID) -> SmartGoal | None:
    return await session.get(SmartGoal, (session_tenant(session), goal_id))


async def list_goals(
    session: AsyncSession, *, status: str | None, metric: str | None, limit: int, offset: int
) -> tuple[list[SmartGoal], int]:
    statement = select(SmartGoal).where(SmartGoal.tenant_id == session_tenant(session))
    if status is not None:
        statement = statement.where(SmartGoal.status == status)
    if metric is not None:
        statement = statement.where(SmartGoal.metric == metric)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.scalars(
        statement.order_by(SmartGoal.deadline, SmartGoal.created_at, SmartGoal.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def lock_goal(session: AsyncSession, goal_id: uuid.UUID) -> None:
    """Hold the goal's row until the transaction ends (``FOR UPDATE``)."""
    await session.execute(
        select(SmartGoal.id)
        .where(SmartGoal.tenant_id == session_tenant(session), SmartGoal.id == goal_id)
        .with_for_update()
    )


async def latest_status(session: AsyncSession, goal_id: uuid.UUID) -> GoalStatusChange | None:
    statement = (
        select(GoalStatusChange)
        .where(GoalStatusChange.tenant_id == session_tenant(session), GoalStatusChange.goal_id == goal_id)
        .order_by(GoalStatusChange.recorded_at.desc(), GoalStatusChange.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)


async def status_history(
    session: AsyncSession, goal_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[GoalStatusChange], int]:
    statement = select(GoalStatusChange).where(
        GoalStatusChange.tenant_id == session_tenant(session), GoalStatusChange.goal_id == goal_id
    )
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.scalars(
        statement.order_by(GoalStatusChange.recorded_at.desc(), GoalStatusChange.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)
