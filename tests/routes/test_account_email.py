"""Account email through a real SMTP server on loopback: invitations, activation, password reset.

The app queues each email; a worker (run in-process, as ``tests/jobs`` do) mints the token,
stores its hash and sends the link; the tests read the link from the received message and
use it through the API.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from backend.config import MailSettings, Settings
from backend.models import User
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import app_client, logs_into, make_settings
from tests.factories import (
    DEFAULT_PASSWORD,
    create_tenant,
    expect_json,
    login,
    problem_context,
    unique_email,
)
from tests.jobs.support import fast_retry_settings, run_pending_jobs
from tests.services.mail.smtp_server import SmtpServer

NEW_PASSWORD = "a-new-and-long-password"
APP_URL = "https://app.dyocense.test"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _mail_settings(urls: DatabaseUrls, smtp: SmtpServer, **auth: Any) -> Settings:
    base = make_settings(urls, **auth)
    mail = MailSettings(
        **smtp.settings(public_app_url=APP_URL, from_address="Dyocense <no-reply@dyocense.test>")
    )
    return fast_retry_settings(base.model_copy(update={"mail": mail}))


@pytest.fixture(scope="module")
def mail_settings(database_urls: DatabaseUrls, smtp: SmtpServer) -> Settings:
    return _mail_settings(database_urls, smtp)


@pytest.fixture(scope="module")
async def mail_client(mail_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(mail_settings) as http:
        yield http


async def _send_mail(settings: Settings, urls: DatabaseUrls) -> None:
    await run_pending_jobs(settings, urls, ["mail"])


async def _job(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    return expect_json(await client.get(f"/api/v1/jobs/{job_id}", headers=headers))


def _ip() -> dict[str, str]:
    """A client address of the test's own (the test apps trust X-Forwarded-For)."""
    return {
        "X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    }


async def _invite(client: httpx.AsyncClient, headers: dict[str, str], email: str) -> dict[str, Any]:
    invited = await client.post("/api/v1/users", headers=headers, json={"email": email, "role": "analyst"})
    return expect_json(invited, 201)


async def test_an_invitation_is_emailed_and_its_link_activates_the_account(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    admin = await create_tenant(mail_client, name="Harbour Bakery")
    invitee = unique_email("analyst")
    invited = await _invite(mail_client, admin.headers, invitee)
    # With a transport the token goes by email only.
    assert invited["activation_token"] is None
    assert (await _job(mail_client, admin.headers, invited["invitation_email_job_id"]))["status"] == "queued"

    await _send_mail(mail_settings, database_urls)

    [received] = smtp.to(invitee)
    assert received.message["Subject"] == "You are invited to Harbour Bakery on Dyocense"
    assert received.message["From"] == "Dyocense <no-reply@dyocense.test>"
    assert f"{APP_URL}/activate?token=" in received.text and f"{APP_URL}/activate?token=" in received.html
    token = received.token()
    job = await _job(mail_client, admin.headers, invited["invitation_email_job_id"])
    assert job["status"] == "succeeded" and job["result"]["sent"] is True
    assert token not in str(job)  # neither the payload nor the result holds the token

    activated = await mail_client.post(
        "/api/v1/auth/activate", json={"token": token, "password": NEW_PASSWORD}
    )
    assert activated.status_code == 200, activated.text
    await login(mail_client, invitee, NEW_PASSWORD)
    again = await mail_client.post("/api/v1/auth/activate", json={"token": token, "password": NEW_PASSWORD})
    assert again.status_code == 401


async def test_a_sign_up_without_password_emails_the_activation_link(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    owner = unique_email("owner")
    signed_up = await mail_client.post("/api/v1/tenants", json={"name": "Corner Shop", "owner_email": owner})
    assert signed_up.status_code == 201, signed_up.text
    activation = signed_up.json()["activation"]
    assert activation["token"] is None and activation["emailed"] is True

    await _send_mail(mail_settings, database_urls)

    [received] = smtp.to(owner)
    assert received.message["Subject"] == "Activate your Dyocense account"
    assert "Corner Shop" in received.text
    activated = await mail_client.post(
        "/api/v1/auth/activate", json={"token": received.token(), "password": NEW_PASSWORD}
    )
    assert activated.status_code == 200, activated.text


async def _reset_link(
    client: httpx.AsyncClient, settings: Settings, urls: DatabaseUrls, smtp: SmtpServer, email: str
) -> str:
    before = len(smtp.to(email))
    asked = await client.post("/api/v1/auth/password-reset", json={"email": email}, headers=_ip())
    assert asked.status_code == 202, asked.text
    await _send_mail(settings, urls)
    received = smtp.to(email)
    assert len(received) == before + 1
    assert received[-1].message["Subject"] == "Reset your Dyocense password"
    assert f"{APP_URL}/reset-password?token=" in received[-1].text
    return received[-1].token()


async def test_a_password_reset_sets_the_password_and_ends_every_sign_in(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    tenant = await create_tenant(mail_client)
    other_sign_in = await login(mail_client, tenant.email, tenant.password)
    token = await _reset_link(mail_client, mail_settings, database_urls, smtp, tenant.email)

    confirmed = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204, confirmed.text

    await login(mail_client, tenant.email, NEW_PASSWORD)
    old_password = await mail_client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": DEFAULT_PASSWORD}
    )
    assert old_password.status_code == 401
    for refresh_token in (tenant.refresh_token, other_sign_in["refresh_token"]):
        refreshed = await mail_client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
        assert refreshed.status_code == 401
    assert (await mail_client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401

    reused = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "yet-another-password"}
    )
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "invalid_reset_token"
    await login(mail_client, tenant.email, NEW_PASSWORD)


async def test_only_the_newest_reset_link_works(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    tenant = await create_tenant(mail_client)
    first = await _reset_link(mail_client, mail_settings, database_urls, smtp, tenant.email)
    second = await _reset_link(mail_client, mail_settings, database_urls, smtp, tenant.email)
    stale = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": first, "password": NEW_PASSWORD}
    )
    assert stale.status_code == 401
    fresh = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": second, "password": NEW_PASSWORD}
    )
    assert fresh.status_code == 204


async def test_an_expired_reset_link_is_refused_and_changes_nothing(
    mail_client: httpx.AsyncClient,
    mail_settings: Settings,
    database_urls: DatabaseUrls,
    smtp: SmtpServer,
    database: Database,
) -> None:
    tenant = await create_tenant(mail_client)
    token = await _reset_link(mail_client, mail_settings, database_urls, smtp, tenant.email)
    async with database.tenant_session(tenant.tenant_id) as session:
        await session.execute(
            update(User)
            .where(User.tenant_id == tenant.tenant_id, User.id == tenant.owner_id)
            .values(password_reset_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    expired = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_reset_token"
    await login(mail_client, tenant.email, tenant.password)
    refreshed = await mail_client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert refreshed.status_code == 200


async def test_a_weak_new_password_is_refused_and_the_link_still_works(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    tenant = await create_tenant(mail_client)
    token = await _reset_link(mail_client, mail_settings, database_urls, smtp, tenant.email)
    weak = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"}
    )
    assert weak.status_code == 422
    good = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert good.status_code == 204


async def test_an_unknown_email_gets_the_same_202_and_no_mail(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    tenant = await create_tenant(mail_client)
    nobody = unique_email("nobody")
    unknown = await mail_client.post("/api/v1/auth/password-reset", json={"email": nobody}, headers=_ip())
    known = await mail_client.post("/api/v1/auth/password-reset", json={"email": tenant.email}, headers=_ip())
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert unknown.status_code == 202

    await _send_mail(mail_settings, database_urls)
    assert smtp.to(nobody) == []
    assert len(smtp.to(tenant.email)) == 1


@pytest.fixture(scope="module")
async def limited_client(database_urls: DatabaseUrls, smtp: SmtpServer) -> AsyncIterator[httpx.AsyncClient]:
    """An app with low reset and guess limits of its own."""
    settings = _mail_settings(
        database_urls,
        smtp,
        password_reset_per_email_per_hour=2,
        password_reset_per_ip_per_hour=3,
        credential_guesses_per_ip_per_15min=2,
    )
    async with app_client(settings) as http:
        yield http


async def test_reset_requests_are_limited_per_email(limited_client: httpx.AsyncClient) -> None:
    email = unique_email("limited")
    answers = [
        await limited_client.post("/api/v1/auth/password-reset", json={"email": email}, headers=_ip())
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) > 0


async def test_reset_requests_are_limited_per_address(limited_client: httpx.AsyncClient) -> None:
    address = _ip()
    answers = [
        await limited_client.post(
            "/api/v1/auth/password-reset", json={"email": unique_email()}, headers=address
        )
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"


async def test_unknown_reset_tokens_count_as_guesses(limited_client: httpx.AsyncClient) -> None:
    address = _ip()
    answers = [
        await limited_client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": f"not-a-real-token-{n}", "password": NEW_PASSWORD},
            headers=address,
        )
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]


async def test_a_refused_recipient_is_recorded_on_the_job_and_not_retried(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    admin = await create_tenant(mail_client)
    invitee = unique_email("bounce")
    smtp.refuse(invitee)
    invited = await _invite(mail_client, admin.headers, invitee)  # the request is not affected

    stream = io.StringIO()
    with logs_into(stream, json=True):
        await _send_mail(mail_settings, database_urls)
    assert "mail_not_sent" in stream.getvalue()
    assert invitee not in stream.getvalue() and invitee.split("@")[0] not in stream.getvalue()

    job = await _job(mail_client, admin.headers, invited["invitation_email_job_id"])
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["code"] == "recipient_refused"
    assert problem_context(job["error"]) == {"recipient_domain": "example.com", "smtp_code": 550}
    assert smtp.to(invitee) == []
    # Nothing else stops: the tenant goes on, and other mail goes out.
    other = unique_email("colleague")
    await _invite(mail_client, admin.headers, other)
    await _send_mail(mail_settings, database_urls)
    assert len(smtp.to(other)) == 1


async def test_a_deferred_recipient_is_retried_and_the_link_of_the_retry_works(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    admin = await create_tenant(mail_client)
    invitee = unique_email("busy")
    smtp.defer_once(invitee)
    invited = await _invite(mail_client, admin.headers, invitee)

    await _send_mail(mail_settings, database_urls)

    job = await _job(mail_client, admin.headers, invited["invitation_email_job_id"])
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    [received] = smtp.to(invitee)
    activated = await mail_client.post(
        "/api/v1/auth/activate", json={"token": received.token(), "password": NEW_PASSWORD}
    )
    assert activated.status_code == 200


async def test_logs_name_the_domain_never_the_address_or_the_token(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    tenant = await create_tenant(mail_client)
    stream = io.StringIO()
    with logs_into(stream, json=True):
        token = await _reset_link(mail_client, mail_settings, database_urls, smtp, tenant.email)
        confirmed = await mail_client.post(
            "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
        )
        assert confirmed.status_code == 204
    logged = stream.getvalue()
    assert "mail_sent" in logged and "password_reset_requested" in logged
    assert '"recipient_domain": "example.com"' in logged
    assert token not in logged
    assert tenant.email not in logged and tenant.email.split("@")[0] not in logged


async def test_without_a_mail_transport_tokens_stay_in_the_response_and_resets_are_only_logged(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert not settings.mail.configured
    admin = await create_tenant(client)
    invited = await _invite(client, admin.headers, unique_email("devmode"))
    assert invited["activation_token"] and invited["invitation_email_job_id"] is None

    stream = io.StringIO()
    with logs_into(stream, json=True):
        asked = await client.post("/api/v1/auth/password-reset", json={"email": admin.email}, headers=_ip())
    assert asked.status_code == 202
    assert "account_email_pending_no_mail_transport" in stream.getvalue()
    jobs = await client.get("/api/v1/jobs", headers=admin.headers, params={"kind": "auth.account_email"})
    assert jobs.status_code == 200 and jobs.json()["total"] == 0
    await login(client, admin.email, admin.password)


async def test_bad_reset_input_is_a_clear_422(mail_client: httpx.AsyncClient) -> None:
    for body in ({"email": "not-an-email"}, {}, {"email": "a@example.com", "tenant_id": "nope"}):
        answer = await mail_client.post("/api/v1/auth/password-reset", json=body, headers=_ip())
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_failed"
    short = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": "x", "password": "p"}
    )
    assert short.status_code == 422


async def test_a_reset_for_an_email_in_two_tenants_resets_the_one_named(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    email = unique_email("twice")
    tenants = {}
    for name in ("First Bakery", "Second Bakery"):
        created = await mail_client.post(
            "/api/v1/tenants", json={"name": name, "owner_email": email, "owner_password": DEFAULT_PASSWORD}
        )
        assert created.status_code == 201, created.text
        tenants[name] = created.json()["tenant"]["id"]

    asked = await mail_client.post(
        "/api/v1/auth/password-reset",
        json={"email": email, "tenant_id": tenants["First Bakery"]},
        headers=_ip(),
    )
    assert asked.status_code == 202
    await _send_mail(mail_settings, database_urls)
    [received] = smtp.to(email)
    assert "First Bakery" in received.text
    confirmed = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": received.token(), "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204

    def sign_in(tenant: str, password: str) -> Any:
        return mail_client.post(
            "/api/v1/auth/login", json={"email": email, "password": password, "tenant_id": tenants[tenant]}
        )

    assert (await sign_in("First Bakery", NEW_PASSWORD)).status_code == 200
    assert (await sign_in("Second Bakery", DEFAULT_PASSWORD)).status_code == 200
    assert (await sign_in("Second Bakery", NEW_PASSWORD)).status_code == 401
