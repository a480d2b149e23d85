from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Role, User
from backend.utils.repository import PageWindow, paginate, tenant_filter, tenant_select


async def list_users(
    session: AsyncSession, window: PageWindow, *, include_inactive: bool
) -> tuple[list[User], int]:
    statement = tenant_select(session, User)
    if not include_inactive:
        statement = statement.where(User.is_active.is_(True))
    return await paginate(session, statement, order_by=(User.created_at, User.id), window=window)


async def count_active_owners(session: AsyncSession) -> int:
    statement = select(func.count()).where(
        tenant_filter(session, User), User.role == Role.OWNER, User.is_active.is_(True)
    )
    return int(await session.scalar(statement) or 0)
