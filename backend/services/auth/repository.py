"""Queries of the auth feature. Credential lookups run with no tenant; the rest under RLS."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ApiKey, RefreshToken, User
from backend.utils.database import Database, driver_fetch, session_tenant
from backend.utils.rate_limit import Window
from backend.utils.repository import PageWindow, paginate, tenant_filter, tenant_select

T = TypeVar("T")


async def _one(session: AsyncSession, statement: Select[T]) -> T | None:
    """The one row the statement selects, or None."""
    return (await session.scalars(statement)).one_or_none()


class Caller(NamedTuple):
    role: str
    is_active: bool
    timezone: str
    token_version: int
    session_live: bool


class KeyCaller(NamedTuple):
    id: uuid.UUID
    role: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: uuid.UUID
    creator_role: str
    creator_active: bool
    timezone: str


_LOOKUPS = {
    "email": "auth_tenant_for_email",
    "activation": "auth_tenant_for_activation",
    "refresh_token": "auth_tenant_for_refresh_token",
    "api_key": "auth_tenant_for_api_key",
    "password_reset": "auth_tenant_for_password_reset",
}


async def tenant_for_credential(database: Database, kind: str, credential: str) -> uuid.UUID | None:
    """Which tenant a credential (email, or a token/key hash) belongs to, via SECURITY DEFINER functions."""
    function = _LOOKUPS[kind]
    async with database.system_connection() as connection:
        tenant_id = await connection.scalar(
            text(f"select {function}(:credential)"), {"credential": credential}
        )
    return uuid.UUID(str(tenant_id)) if tenant_id is not None else None


async def tenant_for_secret(
    database: Database, kind: str, secret_hash: str, failures: Window
) -> tuple[uuid.UUID | None, int | None]:
    """The tenant of a token/key hash, and in the same statement the failures counted so far
    in the caller's guess-limit window (``None`` when none)."""
    function = _LOOKUPS[kind]
    async with database.system_connection() as connection:
        row = (
            await connection.execute(
                # The function name comes from _LOOKUPS; every value is bound.
                text(
                    f"select {function}(:credential) as tenant_id, (select hits from rate_limit_counters "  # noqa: S608
                    "where key_hash = :window_key and window_start = :window_start) as hits"
                ),
                {"credential": secret_hash, "window_key": failures.key_hash, "window_start": failures.start},
            )
        ).one()
    tenant_id = uuid.UUID(str(row.tenant_id)) if row.tenant_id is not None else None
    return tenant_id, row.hits


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await _one(session, tenant_select(session, User).where(func.lower(User.email) == email.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, (session_tenant(session), user_id))


# The one query per request that confirms a user's access token: role, active flag, token
# version and whether the token's sign-in (refresh family) still has a live token, with the
# tenant's time zone. Sent straight to the driver (SQLAlchemy's statement handling cost more
# than the query).
_CALLER = (
    "select u.role, u.is_active, t.timezone, u.token_version, exists ("
    "  select 1 from refresh_tokens r where r.tenant_id = u.tenant_id and r.family_id = $3"
    "  and r.user_id = u.id and r.revoked_at is null"
    ") from users u join tenants t on t.id = u.tenant_id where u.tenant_id = $1 and u.id = $2"
)

# The same for an API key: the key, its creator's current role and active flag, the time zone.
_KEY_CALLER = (
    "select k.id, k.role, k.expires_at, k.revoked_at, k.last_used_at, k.created_by,"
    " u.role, u.is_active, t.timezone"
    " from api_keys k join users u on u.tenant_id = k.tenant_id and u.id = k.created_by"
    " join tenants t on t.id = k.tenant_id where k.tenant_id = $1 and k.key_hash = $2"
)


async def caller(session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> Caller | None:
    rows = await driver_fetch(session, _CALLER, session_tenant(session), user_id, session_id)
    return Caller(*rows[0]) if rows else None


async def key_caller(session: AsyncSession, key_hash: str) -> KeyCaller | None:
    rows = await driver_fetch(session, _KEY_CALLER, session_tenant(session), key_hash)
    return KeyCaller(*rows[0]) if rows else None


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.tenant_id == session_tenant(session), ApiKey.id == key_id)
        .values(last_used_at=at)
    )


async def bump_token_version(session: AsyncSession, user: User) -> None:
    """End every access token the user holds (they carry the old version)."""
    user.token_version = User.token_version + 1
    await session.flush()
    await session.refresh(user, ["token_version"])


async def user_by_activation_hash(session: AsyncSession, token_hash: str) -> User | None:
    return await _one(session, tenant_select(session, User).where(User.activation_token_hash == token_hash))


async def user_by_password_reset_hash(session: AsyncSession, token_hash: str) -> User | None:
    """The user holding this reset token, row-locked: two uses of one token cannot both succeed."""
    statement = tenant_select(session, User).where(User.password_reset_token_hash == token_hash)
    return await _one(session, statement.with_for_update())


async def refresh_token_owner(session: AsyncSession, token_hash: str) -> uuid.UUID | None:
    statement = select(RefreshToken.user_id).where(
        tenant_filter(session, RefreshToken), RefreshToken.token_hash == token_hash
    )
    return await _one(session, statement)


async def user_for_share(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user, read fresh and share-locked: waits for a change to the user's row to commit."""
    statement = tenant_select(session, User).where(User.id == user_id)
    return await _one(session, statement.with_for_update(read=True).execution_options(populate_existing=True))


async def refresh_token_for_update(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    statement = tenant_select(session, RefreshToken).where(RefreshToken.token_hash == token_hash)
    return await _one(session, statement.with_for_update())


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


async def api_key_by_id(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, (session_tenant(session), key_id))


async def list_api_keys(session: AsyncSession, window: PageWindow) -> tuple[list[ApiKey], int]:
    statement = tenant_select(session, ApiKey).where(ApiKey.revoked_at.is_(None))
    return await paginate(session, statement, order_by=(ApiKey.created_at.desc(), ApiKey.id), window=window)
