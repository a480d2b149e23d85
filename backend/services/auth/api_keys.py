"""API keys for scripts: created by admins, shown once, stored hashed, scoped to a role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ApiKey, Role
from backend.services.auth import repository
from backend.services.auth.service import Principal
from backend.services.errors import Forbidden, NotFound
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow
from backend.utils.security import hash_secret, new_api_key


async def create_api_key(
    session: AsyncSession, principal: Principal, *, name: str, role: Role, expires_in_days: int | None
) -> tuple[ApiKey, str]:
    """A new key and its secret (returned once; only the hash is kept)."""
    if not principal.role.at_least(role):
        raise Forbidden(f"You cannot create a key with role '{role}', which is above your own")
    secret, prefix = new_api_key()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    key = ApiKey(
        tenant_id=session_tenant(session),
        name=name,
        prefix=prefix,
        key_hash=hash_secret(secret),
        role=role,
        created_by=principal.actor_id,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession, window: PageWindow) -> tuple[list[ApiKey], int]:
    return await repository.list_api_keys(session, window)


async def revoke_api_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    key = await repository.api_key_by_id(session, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound("API key not found")
    key.revoked_at = datetime.now(UTC)
    await session.flush()
