"""Tenants: sign-up (a tenant and its owner in one unit of work) and the tenant's profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import AuthSettings, MailSettings
from backend.models import Role, Tenant, User
from backend.services.auth.account_email import Activation, issue_activation
from backend.services.auth.emails import AccountEmailPurpose
from backend.services.auth.service import (
    TokenPair,
    check_password_strength,
    hash_password_off_loop,
    issue_tokens,
)
from backend.services.errors import Forbidden, NotFound
from backend.utils.database import TENANT_ZONE_INFO_KEY, Database, session_tenant
from backend.utils.rate_limit import RateLimiter

SIGNUP_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class SignupResult:
    tenant: Tenant
    owner: User
    activation: Activation | None
    tokens: TokenPair | None


async def sign_up(
    database: Database,
    settings: AuthSettings,
    mail: MailSettings,
    limiter: RateLimiter,
    *,
    name: str,
    owner_email: str,
    owner_password: str | None,
    owner_name: str | None,
    client_ip: str,
) -> SignupResult:
    if not settings.signup_enabled:
        raise Forbidden("Sign-up is disabled on this deployment", code="signup_disabled")
    await limiter.hit(
        "signup-ip",
        client_ip,
        limit=settings.signup_per_ip_per_hour,
        window_seconds=SIGNUP_WINDOW_SECONDS,
        message="Too many sign-ups from this address",
    )
    if owner_password is not None:
        check_password_strength(settings, owner_password)
    # No check of the email against other tenants: emails are unique per tenant, so signing
    # up with an address another tenant uses works like any other and reveals nothing.
    password_hash = await hash_password_off_loop(owner_password) if owner_password is not None else None

    tenant_id = uuid.uuid4()
    async with database.tenant_session(tenant_id) as session:
        tenant = Tenant(id=tenant_id, name=name)
        session.add(tenant)
        await session.flush()
        owner = User(
            tenant_id=tenant_id,
            email=owner_email,
            full_name=owner_name,
            role=Role.OWNER,
            password_hash=password_hash,
            activated_at=datetime.now(UTC) if password_hash else None,
        )
        session.add(owner)
        await session.flush()
        tokens = await issue_tokens(session, settings, owner) if password_hash else None
        activation = (
            None
            if password_hash
            else await issue_activation(session, settings, mail, owner, AccountEmailPurpose.ACTIVATION)
        )
    return SignupResult(tenant=tenant, owner=owner, activation=activation, tokens=tokens)


async def get_current_tenant(session: AsyncSession) -> Tenant:
    tenant = await session.get(Tenant, session_tenant(session))
    if tenant is None:
        raise NotFound("Tenant not found")
    return tenant


async def tenant_zone(session: AsyncSession) -> ZoneInfo:
    """The tenant's time zone: calendar buckets, local dates and naive timestamps follow it.

    Requests read it along with the caller (no query here); other sessions look it up.
    """
    name = session.info.get(TENANT_ZONE_INFO_KEY)
    if name is None:
        name = (await get_current_tenant(session)).timezone
    return ZoneInfo(name)


async def update_current_tenant(session: AsyncSession, changes: dict[str, Any]) -> Tenant:
    tenant = await get_current_tenant(session)
    for field, value in changes.items():
        setattr(tenant, field, value)
    session.info.pop(TENANT_ZONE_INFO_KEY, None)
    await session.flush()
    await session.refresh(tenant)
    return tenant
