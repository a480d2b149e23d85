"""API keys for scripts (admin)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from backend.dependencies import AdminPrincipal, PageParams, TenantSession
from backend.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from backend.schemas.common import Page
from backend.services.auth import api_keys as service
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"], responses=error_responses(401, 403, 422))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key (the secret is shown once)")
async def create_api_key(
    body: ApiKeyCreate, session: TenantSession, principal: AdminPrincipal
) -> ApiKeyCreated:
    """Admin or owner. Returns the `dyo_…` secret once, in `key` (only its hash is stored); the key acts
    with the role given (at most the caller's: 403 otherwise) until it expires or is revoked. Send it as
    `X-API-Key` or `Authorization: Bearer`."""
    key, secret = await service.create_api_key(
        session, principal, name=body.name, role=body.role, expires_in_days=body.expires_in_days
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=secret)


@router.get("", summary="List active API keys")
async def list_api_keys(
    session: TenantSession, principal: AdminPrincipal, page: PageParams
) -> Page[ApiKeyRead]:
    """Admin or owner. The keys not revoked, with name, role, prefix, creator, creation, expiry and last
    use; never the secrets."""
    keys, total = await service.list_api_keys(session, window=page)
    return Page.of([ApiKeyRead.model_validate(k) for k in keys], total, page)


@router.delete(
    "/{key_id}",
    **NO_CONTENT,
    summary="Revoke an API key",
    responses=error_responses(404),
)
async def revoke_api_key(key_id: uuid.UUID, session: TenantSession, principal: AdminPrincipal) -> None:
    """Admin or owner. The key stops working at once. 404 for a key that does not exist in the tenant or was
    already revoked."""
    await service.revoke_api_key(session, key_id)
