"""Authentication rules: sign-in, token rotation, activation, and who is calling.

Sign-in cannot know the tenant up front, so these flows first map the credential to a
tenant (``repository.tenant_for_credential``) and then work in a unit of work bound to
that tenant (``Database.tenant_session``), under row-level security like everything else.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import AuthSettings
from backend.models import RefreshToken, Role, User
from backend.services.auth import repository
from backend.services.errors import Unauthorized, ValidationFailed
from backend.utils.database import TENANT_ZONE_INFO_KEY, Database
from backend.utils.rate_limit import RateLimiter
from backend.utils.security import (
    API_KEY_PREFIX,
    InvalidToken,
    create_access_token,
    decode_access_token,
    hash_password,
    hash_secret,
    new_opaque_token,
    verify_password,
)

logger = structlog.get_logger(__name__)

LOGIN_WINDOW_SECONDS = 15 * 60
LAST_USED_RESOLUTION = timedelta(minutes=1)
_BAD_LOGIN = "Incorrect email or password"
_BAD_REFRESH = "Refresh token is invalid, expired or already used; sign in again"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True)
class Credential:
    """What the request presented, before the database confirms it."""

    kind: str  # "user" (access token) or "api_key"
    tenant_id: uuid.UUID
    subject: uuid.UUID | None = None  # user id for access tokens
    key_hash: str | None = None


@dataclass(frozen=True)
class Principal:
    """The confirmed caller: tenant, role and either a user or an API key."""

    tenant_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = None

    @property
    def actor_id(self) -> uuid.UUID:
        """The user responsible for the action (an API key acts for its creator)."""
        assert self.user_id is not None
        return self.user_id


def check_password_strength(settings: AuthSettings, password: str) -> None:
    if len(password) < settings.min_password_length:
        raise ValidationFailed(
            f"Password must be at least {settings.min_password_length} characters",
            details={"field": "password", "min_length": settings.min_password_length},
        )


async def hash_password_off_loop(password: str) -> str:
    """argon2 costs ~100 ms of CPU: keep it off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def issue_tokens(
    session: AsyncSession, settings: AuthSettings, user: User, *, family_id: uuid.UUID | None = None
) -> TokenPair:
    now = datetime.now(UTC)
    access_token, access_expires = create_access_token(
        settings, user_id=user.id, tenant_id=user.tenant_id, role=user.role, now=now
    )
    refresh_token = new_opaque_token()
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=hash_secret(refresh_token),
            issued_at=now,
            expires_at=refresh_expires,
        )
    )
    await session.flush()
    return TokenPair(access_token, access_expires, refresh_token, refresh_expires)


async def login(
    database: Database,
    settings: AuthSettings,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> TokenPair:
    """Email + password → tokens. Unknown email and wrong password fail identically."""
    await limiter.hit(
        "login-ip",
        client_ip,
        limit=settings.login_per_ip_per_15min,
        window_seconds=LOGIN_WINDOW_SECONDS,
        message="Too many sign-in attempts from this address",
    )
    await limiter.hit(
        "login-account",
        email,
        limit=settings.login_per_account_per_15min,
        window_seconds=LOGIN_WINDOW_SECONDS,
        message="Too many sign-in attempts for this account",
    )
    tenant_id = await repository.tenant_for_credential(database, "email", email)
    if tenant_id is None:
        await asyncio.to_thread(verify_password, password, None)
        raise Unauthorized(_BAD_LOGIN)
    async with database.tenant_session(tenant_id) as session:
        user = await repository.user_by_email(session, email)
        password_hash = user.password_hash if user is not None else None
        valid = await asyncio.to_thread(verify_password, password, password_hash)
        if user is None or not valid or not user.is_active:
            raise Unauthorized(_BAD_LOGIN)
        user.last_login_at = datetime.now(UTC)
        tokens = await issue_tokens(session, settings, user)
    logger.info("login_succeeded", tenant_id=str(tenant_id), user_id=str(user.id))
    return tokens


async def refresh(database: Database, settings: AuthSettings, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. Presenting an already-rotated token revokes its whole family."""
    token_hash = hash_secret(refresh_token)
    tenant_id = await repository.tenant_for_credential(database, "refresh_token", token_hash)
    if tenant_id is None:
        raise Unauthorized(_BAD_REFRESH)
    reuse_detected = False
    tokens: TokenPair | None = None
    async with database.tenant_session(tenant_id) as session:
        stored = await repository.refresh_token_for_update(session, token_hash)
        now = datetime.now(UTC)
        if stored is None:
            raise Unauthorized(_BAD_REFRESH)
        if stored.used_at is not None or stored.revoked_at is not None:
            # Someone holds a token that was already exchanged: assume theft, end the session family.
            await repository.revoke_refresh_family(session, stored.family_id, now)
            reuse_detected = stored.used_at is not None
        elif stored.expires_at > now:
            user = await repository.user_by_id(session, stored.user_id)
            if user is not None and user.is_active:
                stored.used_at = now
                tokens = await issue_tokens(session, settings, user, family_id=stored.family_id)
    # Raised after the unit of work committed, so a family revocation is kept.
    if reuse_detected:
        logger.warning("refresh_token_reuse_detected", tenant_id=str(tenant_id))
    if tokens is None:
        raise Unauthorized(_BAD_REFRESH)
    return tokens


async def logout(database: Database, refresh_token: str) -> None:
    """Revoke the refresh token's family. Unknown tokens are ignored (logout is idempotent)."""
    token_hash = hash_secret(refresh_token)
    tenant_id = await repository.tenant_for_credential(database, "refresh_token", token_hash)
    if tenant_id is None:
        return
    async with database.tenant_session(tenant_id) as session:
        stored = await repository.refresh_token_for_update(session, token_hash)
        if stored is not None:
            await repository.revoke_refresh_family(session, stored.family_id, datetime.now(UTC))


async def activate(database: Database, settings: AuthSettings, *, token: str, password: str) -> TokenPair:
    """Set the first password with a one-time activation token; signs the user in."""
    check_password_strength(settings, password)
    token_hash = hash_secret(token)
    tenant_id = await repository.tenant_for_credential(database, "activation", token_hash)
    if tenant_id is None:
        raise Unauthorized("Activation token is invalid or was already used")
    password_hash = await hash_password_off_loop(password)
    async with database.tenant_session(tenant_id) as session:
        user = await repository.user_by_activation_hash(session, token_hash)
        now = datetime.now(UTC)
        if user is None or user.activation_expires_at is None or user.activation_expires_at <= now:
            raise Unauthorized("Activation token is invalid or has expired")
        user.password_hash = password_hash
        user.activation_token_hash = None
        user.activation_expires_at = None
        user.activated_at = now
        tokens = await issue_tokens(session, settings, user)
    return tokens


async def credential_from_bearer(database: Database, settings: AuthSettings, token: str) -> Credential:
    """Classify a presented secret: an API key (``dyo_…``) or a signed access token."""
    if token.startswith(API_KEY_PREFIX):
        key_hash = hash_secret(token)
        tenant_id = await repository.tenant_for_credential(database, "api_key", key_hash)
        if tenant_id is None:
            raise Unauthorized("API key is invalid")
        return Credential(kind="api_key", tenant_id=tenant_id, key_hash=key_hash)
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as error:
        raise Unauthorized("Access token is invalid or expired") from error
    if claims.role not in Role.__members__.values():
        raise Unauthorized("Access token is invalid or expired")
    return Credential(kind="user", tenant_id=claims.tenant_id, subject=claims.user_id)


async def confirm_principal(session: AsyncSession, credential: Credential) -> Principal:
    """Check the credential against the database (active user, live key) and return the caller."""
    now = datetime.now(UTC)
    if credential.kind == "api_key":
        assert credential.key_hash is not None
        key = await repository.api_key_by_hash(session, credential.key_hash)
        if (
            key is None
            or key.revoked_at is not None
            or (key.expires_at is not None and key.expires_at <= now)
        ):
            raise Unauthorized("API key is invalid, revoked or expired")
        creator = await repository.caller(session, key.created_by)
        if creator is None or not creator.is_active:
            raise Unauthorized("API key's owner is deactivated")
        session.info[TENANT_ZONE_INFO_KEY] = creator.timezone
        # Recorded at most once a minute: a script's every request would otherwise write the row.
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            key.last_used_at = now
        return Principal(
            tenant_id=key.tenant_id, role=Role(key.role), user_id=key.created_by, api_key_id=key.id
        )
    assert credential.subject is not None
    user = await repository.caller(session, credential.subject)
    if user is None or not user.is_active:
        raise Unauthorized("Access token is invalid or expired")
    session.info[TENANT_ZONE_INFO_KEY] = user.timezone
    # The role comes from the database, so a demotion takes effect at once.
    return Principal(tenant_id=credential.tenant_id, role=Role(user.role), user_id=credential.subject)
