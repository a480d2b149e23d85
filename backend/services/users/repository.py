from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Role, User
from backend.utils.database import session_tenant


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, include_inactive: bool
) -> tuple[list[User], int]:
    statement = select(User).where(User.tenant_id == session_tenant(session))
    if not include_inactive:
        statement = statement.where(User.is_active.is_(True))
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.scalars(statement.order_by(User.created_at, User.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def count_active_owners(session: AsyncSession) -> int:
    statement = select(func.count()).where(
        User.tenant_id == session_tenant(session), User.role == Role.OWNER, User.is_active.is_(True)
    )
    return int(await session.scalar(statement) or 0)
