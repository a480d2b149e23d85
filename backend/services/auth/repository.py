"""Queries of the auth feature. Credential lookups run with no tenant; the rest under RLS."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ApiKey, RefreshToken, User
from backend.utils.database import Database, driver_fetch, session_tenant


class Caller(NamedTuple):
    role: str
    is_active: bool
    timezone: str


_LOOKUPS = {
    "email": "auth_tenant_for_email",
    "activation": "auth_tenant_for_activation",
    "refresh_token": "auth_tenant_for_refresh_token",
    "api_key": "auth_tenant_for_api_key",
}


async def tenant_for_credential(database: Database, kind: str, credential: str) -> uuid.UUID | None:
    """Which tenant a credential (email, or a token/key hash) belongs to, via SECURITY DEFINER functions."""
    function = _LOOKUPS[kind]
    async with database.system_connection() as connection:
        tenant_id = await connection.scalar(
            text(f"select {function}(:credential)"), {"credential": credential}
        )
    return uuid.UUID(str(tenant_id)) if tenant_id is not None else None


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    statement = select(User).where(
        User.tenant_id == session_tenant(session), func.lower(User.email) == email.lower()
    )
    return (await session.scalars(statement)).one_or_none()


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, (session_tenant(session), user_id))


_CALLER = (
    "select u.role, u.is_active, t.timezone from users u join tenants t on t.id = u.tenant_id "
    "where u.tenant_id = $1 and u.id = $2"
)


async def caller(session: AsyncSession, user_id: uuid.UUID) -> Caller | None:
    """The user's role and active flag with the tenant's time zone: one small query per request,
    sent straight to the driver (SQLAlchemy's statement handling cost more than the query)."""
    rows = await driver_fetch(session, _CALLER, session_tenant(session), user_id)
    return Caller(*rows[0]) if rows else None


async def user_by_activation_hash(session: AsyncSession, token_hash: str) -> User | None:
    statement = select(User).where(
        User.tenant_id == session_tenant(session), User.activation_token_hash == token_hash
    )
    return (await session.scalars(statement)).one_or_none()


async def refresh_token_for_update(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    statement = (
        select(RefreshToken)
        .where(RefreshToken.tenant_id == session_tenant(session), RefreshToken.token_hash == token_hash)
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


async def _revoke_refresh_tokens(session: AsyncSession, condition: ColumnElement[bool], at: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == session_tenant(session), condition, RefreshToken.revoked_at.is_(None)
        )
        .values(revoked_at=at)
    )


async def revoke_refresh_family(session: AsyncSession, family_id: uuid.UUID, at: datetime) -> None:
    await _revoke_refresh_tokens(session, RefreshToken.family_id == family_id, at)


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: uuid.UUID, at: datetime) -> None:
    await _revoke_refresh_tokens(session, RefreshToken.user_id == user_id, at)


async def api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    statement = select(ApiKey).where(ApiKey.tenant_id == session_tenant(session), ApiKey.key_hash == key_hash)
    return (await session.scalars(statement)).one_or_none()


async def api_key_by_id(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, (session_tenant(session), key_id))


async def list_api_keys(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[ApiKey], int]:
    base = select(ApiKey).where(ApiKey.tenant_id == session_tenant(session), ApiKey.revoked_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)
