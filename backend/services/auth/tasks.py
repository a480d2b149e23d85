"""The account email task: mint the one-time token, store its hash, mail the link.

The hash is committed before the email leaves, so the link works the moment it arrives. A
transient SMTP failure (unreachable, timeout, 4xx) is retried with doubling waits up to
``MAIL_MAX_ATTEMPTS``; each try mints a new token, so only the newest link works. A refused
recipient (5xx) or any other permanent refusal is a final failure recorded in the job's
status (``recipient_refused`` / ``mail_refused``), never retried. Logs name the recipient's
domain, never the address or the token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Tenant, User
from backend.services.auth import repository
from backend.services.auth.account_email import ACCOUNT_EMAIL_JOB, AccountEmailPayload
from backend.services.auth.emails import AccountEmailPurpose, account_email, account_link
from backend.services.mail import (
    Email,
    MailRefused,
    MailUnavailable,
    RecipientRefused,
    email_domain,
    transport_for,
)
from backend.services.queue import JobFailed, JobRun, Task
from backend.utils.security import hash_secret, new_opaque_token

logger = structlog.get_logger(__name__)


def _still_wanted(user: User | None, purpose: AccountEmailPurpose) -> str | None:
    """Why the email is no longer needed, or None to send it."""
    if user is None:
        return "user_gone"
    if not user.is_active:
        return "user_deactivated"
    if purpose is AccountEmailPurpose.PASSWORD_RESET:
        return None if user.password_hash is not None else "no_password_yet"
    return None if user.password_hash is None else "already_activated"


def _store_token(user: User, purpose: AccountEmailPurpose, token: str, expires_at: datetime) -> None:
    if purpose is AccountEmailPurpose.PASSWORD_RESET:
        user.password_reset_token_hash = hash_secret(token)
        user.password_reset_expires_at = expires_at
    else:
        user.activation_token_hash = hash_secret(token)
        user.activation_expires_at = expires_at


async def _prepare(run: JobRun, session: AsyncSession, payload: AccountEmailPayload) -> Email | str:
    """The email to send with a freshly stored token, or why there is none to send."""
    user = await repository.user_by_id(session, payload.user_id)
    skipped = _still_wanted(user, payload.purpose)
    if skipped is not None or user is None:
        return skipped or "user_gone"
    tenant = await session.get(Tenant, run.tenant_id)
    token = new_opaque_token()
    _store_token(user, payload.purpose, token, payload.expires_at)
    await session.flush()
    return account_email(
        payload.purpose,
        to=user.email,
        link=account_link(run.settings.mail.public_app_url, payload.purpose, token),
        tenant_name=tenant.name if tenant is not None else run.settings.app_name,
        expires_at=payload.expires_at,
        app_name=run.settings.app_name,
    )


def _failure(error: MailRefused, email: Email) -> JobFailed:
    details: dict[str, Any] = {"recipient_domain": email_domain(email.to), "smtp_code": error.smtp_code}
    if isinstance(error, RecipientRefused):
        return JobFailed(str(error), code="recipient_refused", context=details)
    return JobFailed(str(error), code="mail_refused", context=details)


async def send_account_email(run: JobRun, payload: AccountEmailPayload) -> dict[str, Any]:
    transport = transport_for(run.settings.mail)
    if transport is None:
        raise JobFailed("No mail transport is configured (SMTP_HOST)", code="mail_not_configured")
    if payload.expires_at <= datetime.now(UTC):
        raise JobFailed("The link expired before it could be sent", code="link_expired")
    async with run.database.tenant_session(run.tenant_id) as session:
        prepared = await _prepare(run, session, payload)
    if isinstance(prepared, str):
        logger.info("account_email_skipped", purpose=payload.purpose.value, reason=prepared)
        return {"sent": False, "reason": prepared}
    try:
        await transport.send(prepared)
    except MailRefused as error:
        raise _failure(error, prepared) from error
    except MailUnavailable as error:
        details = {"recipient_domain": email_domain(prepared.to), "smtp_code": error.smtp_code}
        raise JobFailed(str(error), code="mail_unavailable", context=details, retryable=True) from error
    return {"sent": True, "purpose": payload.purpose.value, "recipient_domain": email_domain(prepared.to)}


TASKS: tuple[Task[Any], ...] = (Task(ACCOUNT_EMAIL_JOB, send_account_email),)
