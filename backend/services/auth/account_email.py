"""Account emails from the request's side: which one-time token a user gets, and how it reaches them.

With a mail transport (``SMTP_HOST``) the request only queues a job (``ACCOUNT_EMAIL_JOB``)
in its own transaction, naming the user, the purpose and the link's deadline. The worker
mints the token when it sends (``tasks.send_account_email``), stores its hash on the user
and mails the link: the token exists in the email alone, never in the API response, the
job's payload or a log. A retried send mints a new token, so only the newest link works.

Without a transport nothing can be delivered: activation tokens are minted in the request
and (outside production, the development convenience) returned in the response; a
password reset is only logged as pending, since returning its token would hand the account
to whoever asked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import AuthSettings, MailSettings, Settings
from backend.models import User
from backend.services import workload
from backend.services.auth.emails import AccountEmailPurpose
from backend.services.mail import email_domain
from backend.services.queue import JobAlreadyQueued, JobKind
from backend.utils.security import hash_secret, new_opaque_token

logger = structlog.get_logger(__name__)

MAIL_QUEUE = "mail"


class AccountEmailPayload(BaseModel):
    """Which email to send: no address and no token (the worker reads the one, mints the other)."""

    purpose: AccountEmailPurpose
    user_id: uuid.UUID
    expires_at: datetime


def _attempts(settings: Settings) -> int:
    return settings.mail.max_attempts


ACCOUNT_EMAIL_JOB = JobKind(
    "auth.account_email",
    AccountEmailPayload,
    queue=MAIL_QUEUE,
    # At most one waiting per user and purpose: repeated reset requests send one email.
    lock=lambda payload: f"account-email:{payload.purpose}:{payload.user_id}",
    max_attempts_from_settings=_attempts,
)


@dataclass(frozen=True)
class Activation:
    """A user's pending activation: the token only when no email carries it."""

    token: str | None
    expires_at: datetime
    email_job_id: uuid.UUID | None = None


def activation_deadline(settings: AuthSettings) -> datetime:
    return datetime.now(UTC) + timedelta(hours=settings.activation_token_hours)


async def issue_activation(
    session: AsyncSession,
    auth: AuthSettings,
    mail: MailSettings,
    user: User,
    purpose: AccountEmailPurpose,
    *,
    requested_by: uuid.UUID | None = None,
) -> Activation:
    """Give the (flushed, not yet activated) ``user`` an activation: emailed when a transport is
    configured, else minted here for the caller to hand over."""
    expires_at = activation_deadline(auth)
    user.activation_expires_at = expires_at
    if mail.configured:
        user.activation_token_hash = None  # the worker sets it when it sends the link
        await session.flush()
        queued = await workload.queue(
            session,
            ACCOUNT_EMAIL_JOB,
            AccountEmailPayload(purpose=purpose, user_id=user.id, expires_at=expires_at),
            reason="account emails are sent by a worker",
            requested_by=requested_by,
        )
        return Activation(token=None, expires_at=expires_at, email_job_id=queued.job_id)
    token = new_opaque_token()
    user.activation_token_hash = hash_secret(token)
    await session.flush()
    _log_not_sent(purpose, user.email, expires_at)
    return Activation(token=token, expires_at=expires_at)


async def queue_password_reset(
    session: AsyncSession, auth: AuthSettings, mail: MailSettings, user: User
) -> uuid.UUID | None:
    """Queue the reset email of ``user``; the job id, or None when nothing can send it (or one
    is already waiting, which will send a fresh link)."""
    expires_at = datetime.now(UTC) + timedelta(minutes=auth.password_reset_token_minutes)
    if not mail.configured:
        _log_not_sent(AccountEmailPurpose.PASSWORD_RESET, user.email, expires_at)
        return None
    payload = AccountEmailPayload(
        purpose=AccountEmailPurpose.PASSWORD_RESET, user_id=user.id, expires_at=expires_at
    )
    try:
        queued = await workload.queue(
            session,
            ACCOUNT_EMAIL_JOB,
            payload,
            reason="account emails are sent by a worker",
            requested_by=None,
        )
    except JobAlreadyQueued:
        return None
    return queued.job_id


def _log_not_sent(purpose: AccountEmailPurpose, email: str, expires_at: datetime) -> None:
    logger.info(
        "account_email_pending_no_mail_transport",
        purpose=purpose.value,
        email_domain=email_domain(email),
        expires_at=expires_at.isoformat(),
    )
