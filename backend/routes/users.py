"""Users of the caller's tenant."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from backend.dependencies import AdminPrincipal, AppSettings, CurrentPrincipal, PageParams, TenantSession
from backend.schemas.common import Page
from backend.schemas.users import UserCreate, UserInvited, UserRead, UserUpdate
from backend.services.users import service
from backend.utils.error_handlers import error_responses

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=error_responses(401, 422))


@router.get("", summary="List users")
async def list_users(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    include_inactive: Annotated[bool, Query(description="Include deactivated users.")] = False,
) -> Page[UserRead]:
    """The people of the tenant with their roles, paged (`limit`/`offset`, `total`). Any role may read it;
    deactivated users only with `include_inactive=true`."""
    users, total = await service.list_users(session, window=page, include_inactive=include_inactive)
    return Page.of([UserRead.model_validate(u) for u in users], total, page)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Invite a user (admin)",
    responses=error_responses(403, 409),
)
async def invite_user(
    body: UserCreate, session: TenantSession, principal: AdminPrincipal, settings: AppSettings
) -> UserInvited:
    """The invitee gets a one-time activation link: by email when a mail transport is configured
    (`SMTP_HOST`; the email's job id is in the answer), else as `activation_token` here outside production."""
    user, activation = await service.invite_user(
        session,
        settings.auth,
        settings.mail,
        principal,
        email=str(body.email),
        role=body.role,
        full_name=body.full_name,
    )
    return UserInvited(
        user=UserRead.model_validate(user),
        activation_token=None if settings.is_production else activation.token,
        activation_expires_at=activation.expires_at,
        invitation_email_job_id=activation.email_job_id,
    )


@router.get("/{user_id}", summary="Get a user", responses=error_responses(404))
async def get_user(user_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal) -> UserRead:
    """One user of the tenant by id. 404 when no such user exists in the caller's tenant (a user of another
    tenant is not found too)."""
    return UserRead.model_validate(await service.get_user(session, user_id))


@router.patch(
    "/{user_id}",
    summary="Change a user's role or name (admin)",
    responses=error_responses(403, 404, 409),
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, session: TenantSession, principal: AdminPrincipal
) -> UserRead:
    """Admin or owner. Sets the role and/or the full name. 403 when the caller may not grant the role (none
    above their own); 409 when the change would leave the tenant without an active owner. Returns the
    updated user."""
    user = await service.update_user(session, principal, user_id, role=body.role, full_name=body.full_name)
    return UserRead.model_validate(user)


@router.delete(
    "/{user_id}",
    summary="Deactivate a user (admin)",
    responses=error_responses(403, 404, 409),
)
async def deactivate_user(user_id: uuid.UUID, session: TenantSession, principal: AdminPrincipal) -> UserRead:
    """The user can no longer sign in; existing tokens stop working at once."""
    return UserRead.model_validate(await service.deactivate_user(session, principal, user_id))
