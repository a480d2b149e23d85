"""Outgoing email: ``Email`` (what to send), ``build_message`` (the MIME message) and
``SmtpTransport`` (sends it over SMTP, sorting failures into transient and permanent).

Any feature that mails (account emails, insight digests) builds an ``Email`` and sends it
from a job, so a slow or failing mail server never holds up a request.
"""

from backend.services.mail.message import Email, InlineImage, build_message, email_domain
from backend.services.mail.transport import (
    MailRefused,
    MailUnavailable,
    RecipientRefused,
    SmtpTransport,
    transport_for,
)

__all__ = [
    "Email",
    "InlineImage",
    "MailRefused",
    "MailUnavailable",
    "RecipientRefused",
    "SmtpTransport",
    "build_message",
    "email_domain",
    "transport_for",
]
