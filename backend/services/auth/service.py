"""Authentication rules: sign-in, token rotation, activation, and who is calling.

Sign-in cannot know the tenant up front, so these flows first map the credential to a
tenant (``repository.tenant_for_credential``) and then work in a unit of work bound to
that tenant (``Database.tenant_session``), under row-level security like everything else.

Access tokens can be ended before they expire: each carries the user's ``token_version``
and its sign-in's refresh family (``sid``), both checked by the one query per request
that confirms the caller. Logout revokes the family; a password change, deactivation and
"sign out everywhere" bump the version.

Sign-in limits (see ``login``) are keyed so that nobody can lock another person out.
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
from backend.services.errors import Forbidden, RateLimited, Unauthorized, ValidationFailed
from backend.utils.database import TENANT_ZONE_INFO_KEY, Database, session_tenant
from backend.utils.rate_limit import Backoff, RateLimiter, Window
from backend.utils.security import (
    API_KEY_PREFIX,
    STREAM_TICKET_TYPE,
    AccessClaims,
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
GUESS_WINDOW_SECONDS = 15 * 60
LAST_USED_RESOLUTION = timedelta(minutes=1)
_BAD_LOGIN = "Incorrect email or password"
_BAD_REFRESH = "Refresh token is invalid, expired or already used; sign in again"
_BAD_ACCESS = "Access token is invalid, expired or revoked"


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
    session_id: uuid.UUID | None = None  # the sign-in (refresh family) of an access token
    token_version: int | None = None
    key_hash: str | None = None

    @classmethod
    def of_user(cls, claims: AccessClaims) -> Credential:
        """A signed-in user's credential, from a verified access token's (or stream ticket's) claims."""
        return cls(
            kind="user",
            tenant_id=claims.tenant_id,
            subject=claims.user_id,
            session_id=claims.session_id,
            token_version=claims.token_version,
        )


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


def check_password_strength(settings: AuthSettings, password: str, *, field: str = "password") -> None:
    if len(password) < settings.min_password_length:
        raise ValidationFailed(
            f"Password must be at least {settings.min_password_length} characters",
            context={"field": field, "min_length": settings.min_password_length},
        )


async def hash_password_off_loop(password: str) -> str:
    """argon2 costs ~100 ms of CPU: keep it off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def issue_tokens(
    session: AsyncSession, settings: AuthSettings, user: User, *, family_id: uuid.UUID | None = None
) -> TokenPair:
    """A refresh token of the family (a new sign-in when none) and an access token bound to it."""
    now = datetime.now(UTC)
    family = family_id or uuid.uuid4()
    access_token, access_expires = create_access_token(
        settings,
        user_id=user.id,
        tenant_id=user.tenant_id,
        role=user.role,
        session_id=family,
        token_version=user.token_version,
        now=now,
    )
    refresh_token = new_opaque_token()
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            family_id=family,
            token_hash=hash_secret(refresh_token),
            issued_at=now,
            expires_at=refresh_expires,
        )
    )
    await session.flush()
    return TokenPair(access_token, access_expires, refresh_token, refresh_expires)


# --- limits -------------------------------------------------------------------------------


def _backoff(settings: AuthSettings, scope: str, message: str) -> Backoff:
    """Failures of ``scope`` back off the same way: a few free, then doubling waits."""
    return Backoff(
        scope=scope,
        free_failures=settings.login_free_failures,
        base_seconds=settings.login_backoff_base_seconds,
        max_seconds=settings.login_backoff_max_seconds,
        reset_seconds=LOGIN_WINDOW_SECONDS,
        message=message,
    )


def login_backoff(settings: AuthSettings) -> Backoff:
    """Failed sign-ins of one account from one address (the pair is the key)."""
    return _backoff(
        settings,
        "login-account-ip",
        "Too many failed sign-ins for this account from this address; wait and retry",
    )


def _password_change_backoff(settings: AuthSettings) -> Backoff:
    return _backoff(settings, "password-change", "Too many wrong current passwords; wait and retry")


def guess_window(settings: AuthSettings, limiter: RateLimiter, client_ip: str) -> Window:
    return limiter.window(
        "credential-guess",
        client_ip,
        limit=settings.credential_guesses_per_ip_per_15min,
        window_seconds=GUESS_WINDOW_SECONDS,
        message="Too many invalid tokens or keys from this address",
    )


async def tenant_for_guarded_secret(
    database: Database, limiter: RateLimiter, window: Window, kind: str, secret_hash: str
) -> uuid.UUID | None:
    """The tenant of a token/key hash, refused while the address is over its guess limit.

    The limit is read in the lookup's own statement (no extra round trip); only an unknown
    secret counts against it, so normal use costs nothing.
    """
    tenant_id, failures = await repository.tenant_for_secret(database, kind, secret_hash, window)
    window.check(failures)
    if tenant_id is None:
        await limiter.count(window)
    return tenant_id


# --- sign-in ------------------------------------------------------------------------------


async def _tokens_for_password(
    database: Database, settings: AuthSettings, *, email: str, password: str, tenant_id: uuid.UUID | None
) -> TokenPair | None:
    """Tokens when the password is right; exactly one argon2 verification either way."""
    if tenant_id is None:
        tenant_id = await repository.tenant_for_credential(database, "email", email)
    if tenant_id is None:
        await asyncio.to_thread(verify_password, password, None)
        return None
    async with database.tenant_session(tenant_id) as session:
        user = await repository.user_by_email(session, email)
        password_hash = user.password_hash if user is not None else None
        valid = await asyncio.to_thread(verify_password, password, password_hash)
        if user is None or not valid or not user.is_active:
            return None
        user.last_login_at = datetime.now(UTC)
        tokens = await issue_tokens(session, settings, user)
    logger.info("login_succeeded", tenant_id=str(tenant_id), user_id=str(user.id))
    return tokens


async def login(
    database: Database,
    settings: AuthSettings,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    client_ip: str,
    tenant_id: uuid.UUID | None = None,
) -> TokenPair:
    """Email + password (+ the tenant, for an email used in several) → tokens.

    Unknown email and wrong password fail identically. Limits, and why nobody can lock
    another person out:

    - every attempt counts against the client address (``login-ip``);
    - failures count against the (account, address) pair, which backs off past a few free
      failures with a growing ``Retry-After``. Checked *before* the password, so a blocked
      pair learns nothing, and the right password from that pair waits too; an attacker's
      failures only ever block the attacker's own addresses;
    - failures of the account from all addresses are counted too: past a looser limit
      (a distributed guesser), every failure backs off at once, from any address. That
      slows each guessing address but never blocks an address without failures, so the
      owner signing in from their own address still gets in.
    """
    await limiter.hit(
        "login-ip",
        client_ip,
        limit=settings.login_per_ip_per_15min,
        window_seconds=LOGIN_WINDOW_SECONDS,
        message="Too many sign-in attempts from this address",
    )
    backoff = login_backoff(settings)
    pair = f"{email}|{client_ip}"
    account = limiter.window(
        "login-account-failures",
        email,
        limit=settings.login_per_account_per_15min,
        window_seconds=LOGIN_WINDOW_SECONDS,
        message=backoff.message,
    )
    state = await limiter.peek(backoff, pair, account)
    if state.retry_after is not None:
        raise RateLimited(backoff.message, retry_after=state.retry_after)
    tokens = await _tokens_for_password(
        database, settings, email=email, password=password, tenant_id=tenant_id
    )
    if tokens is None:
        account_failures = await limiter.count(account, refuse_over_limit=False)
        under_attack = account_failures > account.limit
        await limiter.fail(backoff, pair, free_failures=0 if under_attack else None)
        raise Unauthorized(_BAD_LOGIN)
    if state.failures:
        await limiter.clear(backoff, pair)
    return tokens


async def refresh(
    database: Database, settings: AuthSettings, limiter: RateLimiter, refresh_token: str, *, client_ip: str
) -> TokenPair:
    """Rotate a refresh token. Presenting an already-rotated token revokes its whole family."""
    token_hash = hash_secret(refresh_token)
    window = guess_window(settings, limiter, client_ip)
    tenant_id = await tenant_for_guarded_secret(database, limiter, window, "refresh_token", token_hash)
    if tenant_id is None:
        raise Unauthorized(_BAD_REFRESH)
    reuse_detected = False
    tokens: TokenPair | None = None
    async with database.tenant_session(tenant_id) as session:
        # The user's row first, share-locked: a password change, deactivation or sign-out
        # everywhere (which all write it before revoking tokens) is then either committed
        # before this refresh reads the token, or waits and revokes the token issued here.
        owner = await repository.refresh_token_owner(session, token_hash)
        user = await repository.user_for_share(session, owner) if owner is not None else None
        stored = await repository.refresh_token_for_update(session, token_hash)
        now = datetime.now(UTC)
        if stored is None:
            raise Unauthorized(_BAD_REFRESH)
        if stored.used_at is not None or stored.revoked_at is not None:
            # Someone holds a token that was already exchanged: assume theft, end the session family.
            await repository.revoke_refresh_family(session, stored.family_id, now)
            reuse_detected = stored.used_at is not None
        elif stored.expires_at > now and user is not None and user.is_active:
            stored.used_at = now
            tokens = await issue_tokens(session, settings, user, family_id=stored.family_id)
    # Raised after the unit of work committed, so a family revocation is kept.
    if reuse_detected:
        logger.warning("refresh_token_reuse_detected", tenant_id=str(tenant_id))
    if tokens is None:
        raise Unauthorized(_BAD_REFRESH)
    return tokens


async def logout(database: Database, refresh_token: str) -> None:
    """Revoke the refresh token's family, which also ends its access tokens at once.

    Unknown tokens are ignored (logout is idempotent and answers the same either way)."""
    token_hash = hash_secret(refresh_token)
    tenant_id = await repository.tenant_for_credential(database, "refresh_token", token_hash)
    if tenant_id is None:
        return
    async with database.tenant_session(tenant_id) as session:
        stored = await repository.refresh_token_for_update(session, token_hash)
        if stored is not None:
            await repository.revoke_refresh_family(session, stored.family_id, datetime.now(UTC))


async def end_all_sessions(session: AsyncSession, user: User) -> None:
    """Every access and refresh token of the user stops working."""
    await repository.bump_token_version(session, user)
    await repository.revoke_user_refresh_tokens(session, user.id, datetime.now(UTC))


def _signed_in_user(principal: Principal) -> uuid.UUID:
    if principal.api_key_id is not None:
        raise Forbidden("Sign in with a password for this; an API key cannot do it")
    return principal.actor_id


async def logout_everywhere(session: AsyncSession, principal: Principal) -> None:
    user = await repository.user_by_id(session, _signed_in_user(principal))
    if user is None:
        raise Unauthorized(_BAD_ACCESS)
    await end_all_sessions(session, user)


async def change_password(
    session: AsyncSession,
    settings: AuthSettings,
    limiter: RateLimiter,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
) -> TokenPair:
    """Check the current password, set the new one, end every other sign-in, return new tokens.

    Wrong current passwords back off per user, like sign-in (so a stolen access token
    cannot be used to guess the password quickly)."""
    user_id = _signed_in_user(principal)
    check_password_strength(settings, new_password, field="new_password")
    backoff = _password_change_backoff(settings)
    state = await limiter.peek(backoff, str(user_id), None)
    if state.retry_after is not None:
        raise RateLimited(backoff.message, retry_after=state.retry_after)
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise Unauthorized(_BAD_ACCESS)
    if not await asyncio.to_thread(verify_password, current_password, user.password_hash):
        await limiter.fail(backoff, str(user_id))
        raise Forbidden(
            "The current password is not correct",
            code="wrong_password",
            context={"field": "current_password"},
        )
    if state.failures:
        await limiter.clear(backoff, str(user_id))
    user.password_hash = await hash_password_off_loop(new_password)
    await end_all_sessions(session, user)
    logger.info("password_changed", tenant_id=str(user.tenant_id), user_id=str(user.id))
    return await issue_tokens(session, settings, user)


@dataclass(frozen=True)
class OneTimeToken:
    """A one-time token (activation, password reset) presented to set a password, and from where."""

    token: str
    password: str
    client_ip: str

    @property
    def token_hash(self) -> str:
        return hash_secret(self.token)


async def redeem_one_time_token(
    database: Database,
    settings: AuthSettings,
    limiter: RateLimiter,
    presented: OneTimeToken,
    *,
    kind: str,
    invalid: Unauthorized,
) -> tuple[uuid.UUID, str]:
    """Check the new password, find the tenant of the token (an unknown token counts against the
    address's guess limit, and raises ``invalid``) and hash the password off the event loop: the
    tenant and the password hash."""
    check_password_strength(settings, presented.password)
    window = guess_window(settings, limiter, presented.client_ip)
    tenant_id = await tenant_for_guarded_secret(database, limiter, window, kind, presented.token_hash)
    if tenant_id is None:
        raise invalid
    return tenant_id, await hash_password_off_loop(presented.password)


async def activate(
    database: Database, settings: AuthSettings, limiter: RateLimiter, presented: OneTimeToken
) -> TokenPair:
    """Set the first password with a one-time activation token; signs the user in."""
    invalid = Unauthorized("Activation token is invalid or was already used")
    tenant_id, password_hash = await redeem_one_time_token(
        database, settings, limiter, presented, kind="activation", invalid=invalid
    )
    async with database.tenant_session(tenant_id) as session:
        user = await repository.user_by_activation_hash(session, presented.token_hash)
        now = datetime.now(UTC)
        if user is None or user.activation_expires_at is None or user.activation_expires_at <= now:
            raise Unauthorized("Activation token is invalid or has expired")
        user.password_hash = password_hash
        user.activation_token_hash = None
        user.activation_expires_at = None
        user.activated_at = now
        tokens = await issue_tokens(session, settings, user)
    return tokens


# --- who is calling -----------------------------------------------------------------------


async def credential_from_bearer(
    database: Database, settings: AuthSettings, limiter: RateLimiter, token: str, *, client_ip: str
) -> Credential:
    """Classify a presented secret: an API key (``dyo_…``) or a signed access token."""
    if token.startswith(API_KEY_PREFIX):
        key_hash = hash_secret(token)
        window = guess_window(settings, limiter, client_ip)
        tenant_id = await tenant_for_guarded_secret(database, limiter, window, "api_key", key_hash)
        if tenant_id is None:
            raise Unauthorized("API key is invalid")
        return Credential(kind="api_key", tenant_id=tenant_id, key_hash=key_hash)
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as error:
        raise Unauthorized(_BAD_ACCESS) from error
    if claims.role not in Role.__members__.values():
        raise Unauthorized(_BAD_ACCESS)
    return Credential.of_user(claims)


def issue_stream_ticket(
    settings: AuthSettings, credential: Credential, principal: Principal
) -> tuple[str, datetime]:
    """A short-lived ticket that opens the coach stream for a signed-in user (a browser EventSource).

    It carries the access token's sign-in and token version, so logout, a password change or a
    deactivation ends it like the token; it is valid only as the stream's ``ticket`` parameter."""
    if credential.kind != "user":
        raise Forbidden(
            "Stream tickets are for signed-in users; with an API key, POST /api/v1/coach/chat/stream",
            context={"credential": credential.kind},
        )
    assert credential.subject is not None and credential.session_id is not None
    assert credential.token_version is not None
    return create_access_token(
        settings,
        user_id=credential.subject,
        tenant_id=credential.tenant_id,
        role=principal.role.value,
        session_id=credential.session_id,
        token_version=credential.token_version,
        token_type=STREAM_TICKET_TYPE,
        lifetime=timedelta(seconds=settings.stream_ticket_seconds),
    )


def credential_from_stream_ticket(settings: AuthSettings, ticket: str) -> Credential:
    try:
        claims = decode_access_token(settings, ticket, token_type=STREAM_TICKET_TYPE)
    except InvalidToken as error:
        raise Unauthorized(
            "Stream ticket is invalid or expired; get a new one from POST /chat/stream/tickets"
        ) from error
    return Credential.of_user(claims)


async def _confirm_api_key(session: AsyncSession, key_hash: str) -> Principal:
    now = datetime.now(UTC)
    key = await repository.key_caller(session, key_hash)
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise Unauthorized("API key is invalid, revoked or expired")
    if not key.creator_active:
        raise Unauthorized("API key's owner is deactivated")
    session.info[TENANT_ZONE_INFO_KEY] = key.timezone
    # Recorded at most once a minute: a script's every request would otherwise write the row.
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await repository.touch_api_key(session, key.id, now)
    # A key never exceeds what its creator may do now: a demotion caps the creator's keys too.
    role = min(Role(key.role), Role(key.creator_role), key=lambda candidate: candidate.rank)
    return Principal(tenant_id=session_tenant(session), role=role, user_id=key.created_by, api_key_id=key.id)


async def confirm_principal(session: AsyncSession, credential: Credential) -> Principal:
    """Check the credential against the database (active user, live sign-in, live key) and
    return the caller: one query either way, which also reads the tenant's time zone."""
    if credential.kind == "api_key":
        assert credential.key_hash is not None
        return await _confirm_api_key(session, credential.key_hash)
    assert credential.subject is not None and credential.session_id is not None
    user = await repository.caller(session, credential.subject, credential.session_id)
    if (
        user is None
        or not user.is_active
        or user.token_version != credential.token_version
        or not user.session_live
    ):
        raise Unauthorized(_BAD_ACCESS)
    session.info[TENANT_ZONE_INFO_KEY] = user.timezone
    # The role comes from the database, so a demotion takes effect at once.
    return Principal(tenant_id=credential.tenant_id, role=Role(user.role), user_id=credential.subject)
