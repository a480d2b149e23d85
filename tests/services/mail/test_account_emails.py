"""What account emails say (pure: no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.services.auth.emails import AccountEmailPurpose, account_email, account_link
from backend.services.mail import build_message

WHEN = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_the_link_carries_the_token_to_the_app_page_of_its_purpose() -> None:
    assert (
        account_link("https://app.example.com/", AccountEmailPurpose.PASSWORD_RESET, "abc-_123")
        == "https://app.example.com/reset-password?token=abc-_123"
    )
    assert account_link("https://app.example.com", AccountEmailPurpose.INVITATION, "t").endswith(
        "/activate?token=t"
    )


def test_a_tenant_name_cannot_break_the_subject_or_the_html() -> None:
    email = account_email(
        AccountEmailPurpose.INVITATION,
        to="new@example.com",
        link="https://app.example.com/activate?token=t",
        tenant_name='Evil\r\nBcc: victim@example.com <script>alert("x")</script>',
        expires_at=WHEN,
        app_name="Dyocense",
    )
    message = build_message(email, sender="Dyocense <no-reply@example.com>")
    assert message["Bcc"] is None
    assert "\n" not in str(message["Subject"])
    assert "<script>" not in (email.html or "") and "&lt;script&gt;" in (email.html or "")
    assert "2026-12-07 15:00 UTC" in email.text
