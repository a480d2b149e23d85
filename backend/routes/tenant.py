"""Tenants: sign-up and the caller's own tenant."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.dependencies import (
    AdminPrincipal,
    CurrentPrincipal,
    GuestCaller,
    TenantSession,
)
from backend.routes.auth import token_response
from backend.schemas.tenant import ActivationRead, TenantCreate, TenantCreated, TenantRead, TenantUpdate
from backend.schemas.users import UserRead
from backend.services.tenant import service
from backend.utils.error_handlers import error_responses

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Sign up: create a tenant and its owner",
    responses=error_responses(403, 422, 429),
)
async def create_tenant(body: TenantCreate, guest: GuestCaller) -> TenantCreated:
    """Creates the tenant and its owner. Without `owner_password`, the owner gets a one-time
    activation token for `POST /api/v1/auth/activate`: emailed when a mail transport is
    configured (`SMTP_HOST`), else returned here outside production."""
    settings = guest.settings
    result = await service.sign_up(
        guest.database,
        settings.auth,
        settings.mail,
        guest.limiter,
        name=body.name,
        owner_email=str(body.owner_email),
        owner_password=body.owner_password,
        owner_name=body.owner_name,
        client_ip=guest.ip,
    )
    activation = None
    if result.activation is not None:
        activation = ActivationRead(
            token=None if settings.is_production else result.activation.token,
            expires_at=result.activation.expires_at,
            emailed=result.activation.email_job_id is not None,
        )
    return TenantCreated(
        tenant=TenantRead.model_validate(result.tenant),
        owner=UserRead.model_validate(result.owner),
        activation=activation,
        tokens=token_response(settings, result.tokens) if result.tokens else None,
    )


@router.get("/me", summary="The caller's tenant", responses=error_responses(401))
async def get_my_tenant(session: TenantSession, principal: CurrentPrincipal) -> TenantRead:
    """The tenant (business) of the credential: name, industry, time zone, currency and reporting currency.
    Any role may call it."""
    return TenantRead.model_validate(await service.get_current_tenant(session))


@router.patch(
    "/me",
    summary="Update the caller's tenant",
    responses=error_responses(401, 403, 422),
)
async def update_my_tenant(
    body: TenantUpdate, session: TenantSession, principal: AdminPrincipal
) -> TenantRead:
    """Changes the fields sent (name, industry, time zone, currency, reporting currency); fields left out
    keep their value. Admin or owner (403 otherwise); 422 for an unknown time zone or currency. The time
    zone decides where days, weeks and months start in rollups, goals and forecasts. Returns the updated
    tenant."""
    tenant = await service.update_current_tenant(session, body.changes())
    return TenantRead.model_validate(tenant)
