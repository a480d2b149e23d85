"""Password reset for people who cannot sign in: ask for a link by email, then set a new password.

A request answers the same whatever the email (the route always says 202): whether an
account uses it shows only in the mailbox. The limits (``limit_reset_requests``: per client
address and per email, counted whether or not an account exists) are checked in the
request; looking the account up and queueing its email (``send_reset_link``) run after the
answer has gone out, so neither the answer nor its timing depends on the account existing.

The link's token is single-use, expires (``PASSWORD_RESET_TOKEN_MINUTES``), is stored hashed
like activation tokens, and a newer request replaces it. Setting the new password ends every
sign-in of the user (refresh tokens revoked, access tokens' version bumped).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog

from backend.config import AuthSettings, MailSettings
from backend.services.auth import repository
from backend.services.auth.account_email import queue_password_reset
from backend.services.auth.service import OneTimeToken, end_all_sessions, redeem_one_time_token
from backend.services.errors import Unauthorized
from backend.services.mail import email_domain
from backend.utils.database import Database
from backend.utils.rate_limit import RateLimiter

logger = structlog.get_logger(__name__)

RESET_WINDOW_SECONDS = 3600
_BAD_RESET = "Password reset link is invalid, expired or already used; ask for a new one"


async def limit_reset_requests(
    settings: AuthSettings, limiter: RateLimiter, *, email: str, client_ip: str
) -> None:
    """Count the request; ``RateLimited`` past either limit."""
    await limiter.hit(
        "password-reset-ip",
        client_ip,
        limit=settings.password_reset_per_ip_per_hour,
        window_seconds=RESET_WINDOW_SECONDS,
        message="Too many password reset requests from this address",
    )
    await limiter.hit(
        "password-reset-email",
        email,
        limit=settings.password_reset_per_email_per_hour,
        window_seconds=RESET_WINDOW_SECONDS,
        message="Too many password reset requests for this email; use the newest link you got",
    )


async def send_reset_link(
    database: Database, auth: AuthSettings, mail: MailSettings, *, email: str, tenant_id: uuid.UUID | None
) -> None:
    """Queue a reset link for the account ``email`` signs in to (in ``tenant_id`` when given, else the
    tenant sign-in picks); nothing, silently, when no active account with a password uses it.

    Runs after the answer was sent: a failure is logged, never raised to anyone."""
    try:
        await _queue_reset_link(database, auth, mail, email=email, tenant_id=tenant_id)
    except Exception as error:  # the client has its 202; the log is the only place left to say it
        logger.error(
            "password_reset_not_queued", email_domain=email_domain(email), error=type(error).__name__
        )


async def _queue_reset_link(
    database: Database, auth: AuthSettings, mail: MailSettings, *, email: str, tenant_id: uuid.UUID | None
) -> None:
    if tenant_id is None:
        tenant_id = await repository.tenant_for_credential(database, "email", email)
    queued = None
    if tenant_id is not None:
        async with database.tenant_session(tenant_id) as session:
            user = await repository.user_by_email(session, email)
            if user is not None and user.is_active and user.password_hash is not None:
                queued = await queue_password_reset(session, auth, mail, user)
    logger.info("password_reset_requested", email_domain=email_domain(email), queued=queued is not None)


async def confirm_password_reset(
    database: Database, settings: AuthSettings, limiter: RateLimiter, presented: OneTimeToken
) -> None:
    """Set the password of the token's user, spend the token and end every sign-in of the user.

    Unknown tokens count against the address's guess limit, like activation tokens."""
    invalid = Unauthorized(_BAD_RESET, code="invalid_reset_token")
    tenant_id, password_hash = await redeem_one_time_token(
        database, settings, limiter, presented, kind="password_reset", invalid=invalid
    )
    async with database.tenant_session(tenant_id) as session:
        user = await repository.user_by_password_reset_hash(session, presented.token_hash)
        expires = user.password_reset_expires_at if user is not None else None
        if user is None or expires is None or expires <= datetime.now(UTC) or not user.is_active:
            raise Unauthorized(_BAD_RESET, code="invalid_reset_token")
        user.password_hash = password_hash
        user.password_reset_token_hash = None
        user.password_reset_expires_at = None
        await end_all_sessions(session, user)
    logger.info("password_reset_completed", tenant_id=str(tenant_id), user_id=str(user.id))
