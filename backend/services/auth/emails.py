"""What account emails say: activation after sign-up, an invitation, a password reset.

Pure: an ``Email`` from the facts it states (no I/O). Every value put into the HTML part
is escaped; the link carries the one-time token and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from html import escape
from urllib.parse import urlencode

from backend.services.mail import Email


class AccountEmailPurpose(StrEnum):
    ACTIVATION = "activation"
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret


# The web app's pages the links open; each posts the token to the API.
_PAGES = {
    AccountEmailPurpose.ACTIVATION: "/activate",
    AccountEmailPurpose.INVITATION: "/activate",
    AccountEmailPurpose.PASSWORD_RESET: "/reset-password",
}


def account_link(app_url: str, purpose: AccountEmailPurpose, token: str) -> str:
    return f"{app_url.rstrip('/')}{_PAGES[purpose]}?{urlencode({'token': token})}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _lines(purpose: AccountEmailPurpose, tenant_name: str, app_name: str) -> tuple[str, str, str, str]:
    """Subject, opening line, button label and closing line of ``purpose``."""
    if purpose is AccountEmailPurpose.ACTIVATION:
        return (
            f"Activate your {app_name} account",
            f"Welcome to {app_name}! Your business {tenant_name} is set up; set your password to sign in.",
            "Set your password",
            "If you did not sign up, ignore this email: nothing happens without the link.",
        )
    if purpose is AccountEmailPurpose.INVITATION:
        return (
            f"You are invited to {tenant_name} on {app_name}",
            f"You have been invited to join {tenant_name} on {app_name}. Set your password to accept.",
            "Accept the invitation",
            "If you did not expect this invitation, ignore this email.",
        )
    return (
        f"Reset your {app_name} password",
        f"Someone asked to reset the password of your {app_name} account at {tenant_name}.",
        "Choose a new password",
        "If it was not you, ignore this email: your password stays as it is. Using the link signs "
        "you out everywhere.",
    )


def account_email(
    purpose: AccountEmailPurpose,
    *,
    to: str,
    link: str,
    tenant_name: str,
    expires_at: datetime,
    app_name: str,
) -> Email:
    # A name is one line in a subject (a header), whatever the tenant typed.
    subject, opening, action, closing = _lines(purpose, " ".join(tenant_name.split()), app_name)
    validity = f"The link works once, until {_when(expires_at)}."
    text = f"{opening}\n\n{action}: {link}\n\n{validity}\n\n{closing}\n"
    html = (
        '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
        f"<p>{escape(opening)}</p>"
        f'<p><a href="{escape(link, quote=True)}" style="display:inline-block;padding:10px 16px;'
        f'background:#1f6feb;color:#fff;text-decoration:none;border-radius:6px">{escape(action)}</a></p>'
        f'<p>Or open this address: <a href="{escape(link, quote=True)}">{escape(link)}</a></p>'
        f"<p>{escape(validity)}</p>"
        f'<p style="color:#666">{escape(closing)}</p>'
        "</body></html>"
    )
    return Email(to=to, subject=subject, text=text, html=html)
