"""Insight digests through a real SMTP server on loopback: the email, its chart, once a day, and the
one-click unsubscribe link."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backend.config import MailSettings, Settings
from backend.services.insights import digest
from backend.services.insights import repository as insights
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import app_client, make_settings
from tests.factories import TenantContext, create_tenant, expect_json, invite_and_activate
from tests.jobs.support import fast_retry_settings, run_pending_jobs
from tests.routes.test_insights import _yesterday, seed_daily
from tests.services.mail.smtp_server import Received, SmtpServer

API_URL = "https://api.dyocense.test"
DIGEST = "/api/v1/insights/digest"
UNSUBSCRIBE = "/api/v1/insights/digest/unsubscribe"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_settings(database_urls: DatabaseUrls, smtp: SmtpServer) -> Settings:
    base = make_settings(database_urls)
    mail = MailSettings(
        **smtp.settings(public_api_url=API_URL, from_address="Dyocense <no-reply@dyocense.test>")
    )
    return fast_retry_settings(base.model_copy(update={"mail": mail}))


@pytest.fixture(scope="module")
async def mail_client(mail_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(mail_settings) as http:
        yield http


async def _digest_of(client: httpx.AsyncClient, tenant: TenantContext) -> dict[str, object]:
    return expect_json(await client.get("/api/v1/insights/digest", headers=tenant.headers))


async def _send(
    client: httpx.AsyncClient, tenant: TenantContext, settings: Settings, urls: DatabaseUrls
) -> dict[str, object]:
    queued = await client.post("/api/v1/insights/digest/send", headers=tenant.headers)
    assert queued.status_code == 202, queued.text
    assert queued.headers["location"] == queued.json()["status_url"]
    await run_pending_jobs(settings, urls, ["mail"])
    job = await client.get(queued.headers["location"], headers=tenant.headers)
    assert job.json()["status"] == "succeeded", job.text
    result: dict[str, object] = job.json()["result"]
    return result


def _unsubscribe_link(message: Received) -> str:
    header = str(message.message["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">"), header
    return header[1:-1]


async def test_a_digest_mails_the_followed_insights_with_a_chart_once_a_day_and_unsubscribes_in_one_click(
    mail_client: httpx.AsyncClient, mail_settings: Settings, database_urls: DatabaseUrls, smtp: SmtpServer
) -> None:
    tenant = await create_tenant(mail_client, name="Lighthouse Books")
    unusual = _yesterday()
    await seed_daily(mail_client, tenant, planted={unusual: 0.3})
    followed = await mail_client.post(
        "/api/v1/insights/follows", headers=tenant.headers, json={"metric": "revenue"}
    )
    assert followed.status_code == 201, followed.text
    ran = await mail_client.post("/api/v1/insights/run", headers=tenant.headers, json={})
    assert ran.status_code == 200, ran.text
    feed = (await mail_client.get("/api/v1/insights", headers=tenant.headers)).json()["items"]
    assert any(item["type"] == "unusual_value" for item in feed), feed

    # Off until chosen: sending now is refused and nothing is queued.
    assert (await _digest_of(mail_client, tenant))["frequency"] == "off"
    refused = await mail_client.post("/api/v1/insights/digest/send", headers=tenant.headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "digest_off"
    bad = await mail_client.put(
        "/api/v1/insights/digest", headers=tenant.headers, json={"frequency": "hourly"}
    )
    assert bad.status_code == 422
    chosen = await mail_client.put(
        "/api/v1/insights/digest", headers=tenant.headers, json={"frequency": "weekly"}
    )
    assert chosen.status_code == 200 and chosen.json()["frequency"] == "weekly", chosen.text

    result = await _send(mail_client, tenant, mail_settings, database_urls)
    assert result["sent"] is True and result["charts"] == 1, result
    [message] = smtp.to(tenant.email)
    assert "Lighthouse Books" in str(message.message["Subject"])
    for item in feed:  # every insight the feed shows is in the email, in its own words
        assert item["sentence"] in message.text
    assert 'src="cid:chart-0"' in message.html
    [image] = [part for part in message.message.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<chart-0>"
    assert image.get_payload(decode=True).startswith(PNG_SIGNATURE)
    assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (await _digest_of(mail_client, tenant))["last_sent_on"] is not None

    # A second send the same day sends nothing.
    again = await _send(mail_client, tenant, mail_settings, database_urls)
    assert again == {"sent": False, "reason": "already_sent"}
    assert len(smtp.to(tenant.email)) == 1

    link = _unsubscribe_link(message)
    parts = urlsplit(link)
    assert (
        f"{parts.scheme}://{parts.netloc}" == API_URL and parts.path == "/api/v1/insights/digest/unsubscribe"
    )
    token = parse_qs(parts.query)["token"][0]
    assert link in message.text
    # A forged or tampered token changes nothing.
    forged = await mail_client.post(
        "/api/v1/insights/digest/unsubscribe", params={"token": token[:-4] + "AAAA"}
    )
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "invalid_unsubscribe_link"
    # The GET is a confirmation page: link scanners unsubscribe nobody.
    page = await mail_client.get("/api/v1/insights/digest/unsubscribe", params={"token": token})
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert (await _digest_of(mail_client, tenant))["frequency"] == "weekly"
    # The one-click POST (no sign-in) turns it off.
    done = await mail_client.post(
        "/api/v1/insights/digest/unsubscribe", params={"token": token}, data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status_code == 200 and done.json()["frequency"] == "off", done.text
    assert (await _digest_of(mail_client, tenant))["frequency"] == "off"


async def test_daily_digests_are_due_every_day_and_weekly_ones_on_mondays_until_sent(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    weekly_id, weekly_headers = await invite_and_activate(client, tenant, role="analyst")
    for headers, frequency in ((tenant.headers, "daily"), (weekly_headers, "weekly")):
        chosen = await client.put("/api/v1/insights/digest", headers=headers, json={"frequency": frequency})
        assert chosen.status_code == 200, chosen.text
    monday, tuesday = date(2026, 12, 7), date(2026, 12, 8)
    async with database.tenant_session(tenant.tenant_id) as session:
        due_monday = {s.user_id for s in await insights.due_subscriptions(session, monday)}
        due_tuesday = {s.user_id for s in await insights.due_subscriptions(session, tuesday)}
        assert due_tuesday == {tenant.owner_id}
        assert due_monday == {tenant.owner_id, weekly_id}
        assert await digest.queue_due(session, monday) == 2
        assert await digest.queue_due(session, monday) == 0  # already waiting: no second job
        mine = await insights.get_subscription(session, tenant.owner_id)
        assert mine is not None
        mine.last_sent_on = tuesday
    async with database.tenant_session(tenant.tenant_id) as session:
        assert {s.user_id for s in await insights.due_subscriptions(session, tuesday)} == set()
