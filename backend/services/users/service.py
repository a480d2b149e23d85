"""Users within a tenant: invite, change role, deactivate. Roles: owner > admin > analyst > viewer."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import AuthSettings, MailSettings
from backend.models import Role, User
from backend.services.auth import repository as auth_repository
from backend.services.auth.account_email import Activation, issue_activation
from backend.services.auth.emails import AccountEmailPurpose
from backend.services.auth.service import Principal, end_all_sessions
from backend.services.errors import Conflict, Forbidden, NotFound
from backend.services.users import repository
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await auth_repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def list_users(
    session: AsyncSession, window: PageWindow, *, include_inactive: bool
) -> tuple[list[User], int]:
    return await repository.list_users(session, window, include_inactive=include_inactive)


def _check_can_assign(principal: Principal, role: Role) -> None:
    if not principal.role.at_least(role):
        raise Forbidden(f"You cannot assign role '{role}', which is above your own")


async def invite_user(
    session: AsyncSession,
    settings: AuthSettings,
    mail: MailSettings,
    principal: Principal,
    *,
    email: str,
    role: Role,
    full_name: str | None,
) -> tuple[User, Activation]:
    """Create a user who sets a password with a one-time activation token: emailed with a mail
    transport, else returned for the caller to hand over."""
    _check_can_assign(principal, role)
    user = User(tenant_id=session_tenant(session), email=email, full_name=full_name, role=role)
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        # Only a user of this same tenant can clash: emails are unique per tenant, so an
        # address used by another tenant is invited like any other and reveals nothing.
        raise Conflict("A user with this email already exists here", context={"field": "email"}) from error
    activation = await issue_activation(
        session, settings, mail, user, AccountEmailPurpose.INVITATION, requested_by=principal.actor_id
    )
    return user, activation


async def _ensure_not_last_owner(session: AsyncSession, user: User) -> None:
    if user.role == Role.OWNER and user.is_active and await repository.count_active_owners(session) <= 1:
        raise Conflict("A tenant must keep at least one active owner")


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    role: Role | None,
    full_name: str | None,
) -> User:
    user = await get_user(session, user_id)
    if role is not None and role != user.role:
        # Changing someone at or above your level, or promoting above it, needs that level.
        _check_can_assign(principal, Role(user.role))
        _check_can_assign(principal, role)
        if role != Role.OWNER:
            await _ensure_not_last_owner(session, user)
        user.role = role
    if full_name is not None:
        user.full_name = full_name
    await session.flush()
    await session.refresh(user)
    return user


async def deactivate_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    """Deactivated users cannot sign in; their tokens and API keys stop working at once."""
    user = await get_user(session, user_id)
    _check_can_assign(principal, Role(user.role))
    await _ensure_not_last_owner(session, user)
    user.is_active = False
    await end_all_sessions(session, user)
    await session.flush()
    await session.refresh(user)
    return user
