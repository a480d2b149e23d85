"""The SMTP sender against a real SMTP server on loopback: the MIME it sends, and how it sorts failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from backend.config import MailSettings, Settings
from backend.services.mail import (
    Email,
    InlineImage,
    MailRefused,
    MailUnavailable,
    RecipientRefused,
    SmtpTransport,
    transport_for,
)
from tests.factories import unique_email
from tests.services.mail.smtp_server import SmtpServer, free_port

# The smallest valid PNG (1x1), as a chart would be attached.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _transport(smtp: SmtpServer, **overrides: object) -> SmtpTransport:
    return SmtpTransport(
        MailSettings(**smtp.settings(from_address="Dyocense <mail@dyocense.test>", **overrides))
    )


async def test_an_email_arrives_as_text_with_an_html_alternative_and_inline_images(smtp: SmtpServer) -> None:
    to = unique_email("digest")
    chart = InlineImage(content_id="chart-revenue", data=PIXEL_PNG, filename="revenue.png")
    await _transport(smtp).send(
        Email(
            to=to,
            subject="Your weekly digest",
            text="Revenue fell 12% (see the chart).",
            html='<p>Revenue fell 12%</p><img src="cid:chart-revenue">',
            images=(chart,),
            headers=(("List-Unsubscribe", "<https://app.example.com/unsubscribe?t=x>"),),
        )
    )
    [received] = smtp.to(to)
    message = received.message
    assert received.mail_from == "mail@dyocense.test"
    assert (message["To"], message["Subject"]) == (to, "Your weekly digest")
    assert message["List-Unsubscribe"] == "<https://app.example.com/unsubscribe?t=x>"
    assert message.get_content_type() == "multipart/alternative"
    assert received.text.strip() == "Revenue fell 12% (see the chart)."
    assert 'src="cid:chart-revenue"' in received.html
    related = message.get_payload()[1]  # type: ignore[index]
    assert related.get_content_type() == "multipart/related"
    image = next(part for part in related.iter_parts() if part.get_content_maintype() == "image")
    assert image["Content-ID"] == "<chart-revenue>"
    assert image.get_content() == PIXEL_PNG


async def test_a_refused_recipient_is_a_permanent_failure(smtp: SmtpServer) -> None:
    to = unique_email("nobody")
    smtp.refuse(to)
    with pytest.raises(RecipientRefused) as refused:
        await _transport(smtp).send(Email(to=to, subject="Hi", text="Hello"))
    assert refused.value.smtp_code == 550
    assert smtp.to(to) == []


async def test_a_deferred_recipient_is_a_transient_failure(smtp: SmtpServer) -> None:
    to = unique_email("busy")
    smtp.defer_once(to)
    with pytest.raises(MailUnavailable) as deferred:
        await _transport(smtp).send(Email(to=to, subject="Hi", text="Hello"))
    assert deferred.value.smtp_code == 451
    await _transport(smtp).send(Email(to=to, subject="Hi", text="Hello"))  # the retry goes through
    assert len(smtp.to(to)) == 1


async def test_an_unreachable_server_is_a_transient_failure() -> None:
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_seconds=5.0)
    with pytest.raises(MailUnavailable):
        await SmtpTransport(settings).send(Email(to=unique_email(), subject="Hi", text="Hello"))


async def test_starttls_asked_of_a_server_without_it_is_refused_not_sent_in_clear(smtp: SmtpServer) -> None:
    to = unique_email("tls")
    with pytest.raises(MailRefused, match="STARTTLS"):
        await _transport(smtp, smtp_starttls=True).send(Email(to=to, subject="Hi", text="Hello"))
    assert smtp.to(to) == []


def test_no_smtp_host_means_no_transport() -> None:
    assert transport_for(MailSettings(smtp_host=None)) is None


def test_contradictory_or_incomplete_smtp_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="exclude each other"):
        MailSettings(smtp_host="smtp.example.com", smtp_ssl=True, smtp_starttls=True)
    with pytest.raises(ValidationError, match="go together"):
        MailSettings(smtp_host="smtp.example.com", smtp_username="me")
    assert MailSettings(smtp_host="h", smtp_ssl=True).port == 465
    assert MailSettings(smtp_host="h", smtp_starttls=True).port == 587


def test_production_with_smtp_needs_a_public_app_url(settings: Settings) -> None:
    production = {
        "environment": "production",
        "auth": settings.auth,
        "database": settings.database,
        "connectors": {"encryption_keys": "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0="},
        "cors_origins": ["https://app.example.com"],
    }
    with pytest.raises(ValidationError, match="PUBLIC_APP_URL"):
        Settings(**production, mail=MailSettings(smtp_host="smtp.example.com"))  # type: ignore[arg-type]
    Settings(
        **production,  # type: ignore[arg-type]
        mail=MailSettings(smtp_host="smtp.example.com", public_app_url="https://app.example.com"),
    )


def test_inline_images_need_an_html_part() -> None:
    with pytest.raises(ValueError, match="HTML"):
        Email(to="a@example.com", subject="s", text="t", images=(InlineImage("c", PIXEL_PNG),))
