"""Sending over SMTP with aiosmtplib, each failure sorted into what retrying can fix or not.

- ``RecipientRefused``: the server refused the address for good (a 5xx reply to RCPT TO);
- ``MailRefused``: any other permanent refusal (a 5xx to the sender or the data, failed
  authentication, STARTTLS asked for but not offered): retrying sends the same thing again;
- ``MailUnavailable``: transient (cannot connect, timeout, dropped connection, a 4xx reply):
  worth retrying later.

Logs name the recipient's domain only, never the full address (nor does a traceback: the
aiosmtplib error, which quotes the address, is not chained).
"""

from __future__ import annotations

import aiosmtplib
import structlog

from backend.config import MailSettings
from backend.services.mail.message import Email, build_message, email_domain

logger = structlog.get_logger(__name__)

PERMANENT_FROM = 500


class MailDeliveryError(Exception):
    """An email was not accepted by the mail server."""

    def __init__(self, message: str, *, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code


class MailUnavailable(MailDeliveryError):
    """Transient: the server could not be reached or asked to try later."""


class MailRefused(MailDeliveryError):
    """Permanent: the server refused the message; sending it again would fail the same way."""


class RecipientRefused(MailRefused):
    """Permanent: the server refused the recipient address."""


def _is_permanent(code: int | None) -> bool:
    return code is not None and code >= PERMANENT_FROM


def _classified(error: Exception) -> MailDeliveryError:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        code = codes[0] if codes else None
        if codes and all(_is_permanent(c) for c in codes):
            return RecipientRefused("The mail server refused the recipient address", smtp_code=code)
        return MailUnavailable("The mail server deferred the recipient", smtp_code=code)
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        if _is_permanent(error.code):
            return RecipientRefused("The mail server refused the recipient address", smtp_code=error.code)
        return MailUnavailable("The mail server deferred the recipient", smtp_code=error.code)
    if isinstance(error, aiosmtplib.SMTPNotSupported) or type(error) is aiosmtplib.SMTPException:
        # aiosmtplib's own refusals (STARTTLS or the login method not offered): a settings problem.
        return MailRefused("The mail server does not offer what the SMTP settings ask for (STARTTLS, login)")
    if isinstance(error, aiosmtplib.SMTPResponseException) and _is_permanent(error.code):
        return MailRefused("The mail server refused the message", smtp_code=error.code)
    code = error.code if isinstance(error, aiosmtplib.SMTPResponseException) else None
    return MailUnavailable("The mail server is unreachable or deferred the message", smtp_code=code)


class SmtpTransport:
    """Sends ``Email``s through the configured SMTP server, one connection per message."""

    def __init__(self, settings: MailSettings) -> None:
        if not settings.smtp_host:
            raise ValueError("no SMTP_HOST configured")
        self._settings = settings
        self._host = settings.smtp_host

    @property
    def sender(self) -> str:
        return self._settings.from_address

    async def send(self, email: Email) -> None:
        """Send ``email``; raises ``RecipientRefused``, ``MailRefused`` or ``MailUnavailable``."""
        settings = self._settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        message = build_message(email, sender=settings.from_address)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=settings.port,
                username=settings.smtp_username,
                password=password,
                use_tls=settings.smtp_ssl,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            failure = _classified(error) if isinstance(error, aiosmtplib.SMTPException) else None
            failure = failure or MailUnavailable("The mail server is unreachable")
            logger.warning(
                "mail_not_sent",
                recipient_domain=email_domain(email.to),
                smtp_code=failure.smtp_code,
                permanent=isinstance(failure, MailRefused),
                error=type(error).__name__,
            )
            # Not chained: aiosmtplib's errors carry the full address, and a job's traceback is logged.
            raise failure from None
        logger.info("mail_sent", recipient_domain=email_domain(email.to))


def transport_for(settings: MailSettings) -> SmtpTransport | None:
    """The configured transport, or None when no ``SMTP_HOST`` is set."""
    return SmtpTransport(settings) if settings.configured else None
