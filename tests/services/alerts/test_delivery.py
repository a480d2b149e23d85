"""Alerts delivered to real receivers on loopback: a signed webhook, retries after 500s, the
delivery log, Slack's format, email over SMTP, de-duplication, snooze and quiet hours."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import MailSettings, Settings
from backend.services.alerts.delivery import DeliveryPayload, deliver_alert
from backend.services.alerts.messages import verify_signature
from backend.services.alerts.types import DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from backend.services.queue import JobRun, JobRuntime
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.jobs.support import shared_compute
from tests.services.alerts.support import (
    Receiver,
    deliver,
    delivery_log,
    run_engine,
    tenant_with_rule,
    webhook_rule,
)
from tests.services.connectors.fakes import serve
from tests.services.mail.smtp_server import SmtpServer

pytestmark = pytest.mark.live


async def test_a_threshold_alert_reaches_the_webhook_signed_once_and_is_logged(
    api: httpx.AsyncClient, loopback_settings: Settings, database_urls: DatabaseUrls
) -> None:
    receiver = Receiver()
    async with webhook_rule(api, receiver) as ready:
        tenant, channel = ready.tenant, ready.channel
        assert (await run_engine(api, tenant))["alerts"] == 1
        assert (await run_engine(api, tenant))["alerts"] == 0  # one alert per rule, subject and day
        await deliver(loopback_settings, database_urls)
        await deliver(loopback_settings, database_urls)  # nothing left to send

    [request] = receiver.received
    secret = channel["secret"]
    assert secret and len(secret) >= 40
    timestamp = int(request.headers[TIMESTAMP_HEADER.lower()])
    signature = request.headers[SIGNATURE_HEADER.lower()]
    # What a receiver computes, independently of the sender's code:
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert abs(timestamp - time.time()) < 3600
    assert verify_signature(secret, timestamp, request.body, signature)
    assert not verify_signature("another secret", timestamp, request.body, signature)
    assert not verify_signature(secret, timestamp + 1, request.body, signature)
    body = json.loads(request.body)
    assert (body["kind"], body["rule"], body["severity"]) == ("threshold", "revenue above 100", "medium")
    assert "899.00" in body["text"] or "900.00" in body["text"]
    log = await delivery_log(api, tenant, channel["id"])
    [attempt] = log["items"]
    assert (log["total"], attempt["outcome"], attempt["status_code"], attempt["attempt"]) == (
        1,
        "delivered",
        204,
        1,
    )
    assert attempt["latency_ms"] > 0
    assert attempt["delivery_id"] == request.headers[DELIVERY_ID_HEADER.lower()]
    shown = await api.get(f"/api/v1/alerts/channels/{channel['id']}", headers=tenant.headers)
    assert "secret" not in shown.json() and secret not in shown.text
    alerts = (await api.get("/api/v1/alerts", headers=tenant.headers)).json()
    assert alerts["total"] == 1 and alerts["items"][0]["subject"] == "threshold:revenue"


async def test_a_receiver_answering_500_is_retried_until_it_accepts_and_each_try_is_logged(
    api: httpx.AsyncClient, loopback_settings: Settings, database_urls: DatabaseUrls
) -> None:
    receiver = Receiver(failures=[500, 503])
    async with webhook_rule(api, receiver) as ready:
        tenant, channel = ready.tenant, ready.channel
        await run_engine(api, tenant)
        await deliver(loopback_settings, database_urls)

    assert len(receiver.received) == 3
    assert len({r.headers[DELIVERY_ID_HEADER.lower()] for r in receiver.received}) == 1  # one delivery
    log = await delivery_log(api, tenant, channel["id"])
    tries = sorted(log["items"], key=lambda item: item["attempt"])
    assert [(t["attempt"], t["outcome"], t["status_code"]) for t in tries] == [
        (1, "retry", 500),
        (2, "retry", 503),
        (3, "delivered", 204),
    ]
    assert tries[0]["error"] == "the receiver answered 500"
    page = await api.get(
        f"/api/v1/alerts/channels/{channel['id']}/deliveries?limit=2&offset=2", headers=tenant.headers
    )
    assert (page.json()["total"], len(page.json()["items"])) == (3, 1)


async def test_a_refusing_receiver_fails_the_delivery_for_good_and_says_so(
    api: httpx.AsyncClient, loopback_settings: Settings, database_urls: DatabaseUrls
) -> None:
    receiver = Receiver(failures=[410])
    async with webhook_rule(api, receiver) as ready:
        tenant, channel = ready.tenant, ready.channel
        await run_engine(api, tenant)
        await deliver(loopback_settings, database_urls)
    assert len(receiver.received) == 1
    [attempt] = (await delivery_log(api, tenant, channel["id"]))["items"]
    assert (attempt["outcome"], attempt["status_code"]) == ("failed", 410)


async def test_slack_receives_its_incoming_webhook_format(
    api: httpx.AsyncClient, loopback_settings: Settings, database_urls: DatabaseUrls
) -> None:
    receiver = Receiver()
    with serve(receiver.app()) as base:
        ready = await tenant_with_rule(api, {"kind": "slack", "url": f"{base}/hook"}, name="Revenue watch")
        channel = ready.channel
        assert channel["secret"] is None and channel["target"] == base  # the path is Slack's credential
        await run_engine(api, ready.tenant)
        await deliver(loopback_settings, database_urls)
    [request] = receiver.received
    body = json.loads(request.body)
    assert body["text"].startswith("Revenue watch: revenue was ")
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*Revenue watch*" in section["text"]["text"]
    assert context["type"] == "context" and "threshold" in context["elements"][0]["text"]


async def test_an_email_channel_sends_over_smtp(
    api: httpx.AsyncClient, loopback_settings: Settings, database_urls: DatabaseUrls
) -> None:
    smtp = SmtpServer().start()
    try:
        address = f"alerts-{uuid.uuid4().hex[:6]}@example.com"
        ready = await tenant_with_rule(api, {"kind": "email", "email": address}, name="Revenue watch")
        tenant, channel = ready.tenant, ready.channel
        await run_engine(api, tenant)
        mail = MailSettings(**smtp.settings(from_address="Dyocense <no-reply@dyocense.test>"))
        await deliver(loopback_settings.model_copy(update={"mail": mail}), database_urls)
        [received] = smtp.to(address)
    finally:
        smtp.stop()
    assert received.message["Subject"] == "[Dyocense] Revenue watch: medium alert"
    assert "revenue was " in received.message.get_content()
    [attempt] = (await delivery_log(api, tenant, channel["id"]))["items"]
    assert attempt["outcome"] == "delivered"


async def test_a_snoozed_rule_raises_nothing_until_its_snooze_ends(
    api: httpx.AsyncClient, loopback_settings: Settings, database_urls: DatabaseUrls
) -> None:
    receiver = Receiver()
    async with webhook_rule(api, receiver) as ready:
        tenant, rule = ready.tenant, ready.rule
        until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        snoozed = await api.post(
            f"/api/v1/alerts/rules/{rule['id']}/snooze", headers=tenant.headers, json={"until": until}
        )
        assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"] is not None
        assert (await run_engine(api, tenant))["alerts"] == 0
        woken = await api.delete(f"/api/v1/alerts/rules/{rule['id']}/snooze", headers=tenant.headers)
        assert woken.json()["snoozed_until"] is None
        assert (await run_engine(api, tenant))["alerts"] == 1
        await deliver(loopback_settings, database_urls)
    assert len(receiver.received) == 1


async def test_an_alert_in_quiet_hours_is_delivered_when_they_end_not_dropped(
    api: httpx.AsyncClient,
    loopback_settings: Settings,
    database_urls: DatabaseUrls,
    worker_engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)  # test tenants live in UTC
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time()
    quiet = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    receiver = Receiver()
    async with webhook_rule(api, receiver, quiet_hours=quiet) as ready:
        tenant = ready.tenant
        assert (await run_engine(api, tenant))["alerts"] == 1
        await deliver(loopback_settings, database_urls)
    assert receiver.received == []  # not now
    async with worker_engine.connect() as connection:
        scheduled = await connection.scalar(
            text(
                "select scheduled_at from procrastinate.procrastinate_jobs "
                "where task_name = 'alerts.deliver' and status = 'todo' and args->>'tenant_id' = :tenant"
            ),
            {"tenant": str(tenant.tenant_id)},
        )
    assert scheduled is not None
    local_end = scheduled.astimezone(UTC)
    assert (local_end.hour, local_end.minute) == (end.hour, end.minute)
    assert timedelta(hours=1) < local_end - now <= timedelta(hours=2)


async def _job(settings: Settings, database: Database, tenant_id: uuid.UUID) -> JobRun:
    async def progress(fraction: float, message: str) -> None:
        return None

    return JobRun(
        "alerts.deliver",
        tenant_id,
        uuid.uuid4(),
        1,
        3,
        JobRuntime(settings, database, shared_compute()),
        progress,
    )


async def test_two_workers_delivering_one_row_at_once_send_it_once(
    api: httpx.AsyncClient, loopback_settings: Settings, database: Database, worker_engine: AsyncEngine
) -> None:
    receiver = Receiver()
    async with webhook_rule(api, receiver) as ready:
        tenant = ready.tenant
        await run_engine(api, tenant)
        async with worker_engine.connect() as connection:
            delivery_id = await connection.scalar(
                text(
                    "select args->'payload'->>'delivery_id' from procrastinate.procrastinate_jobs "
                    "where task_name = 'alerts.deliver' and args->>'tenant_id' = :tenant"
                ),
                {"tenant": str(tenant.tenant_id)},
            )
        payload = DeliveryPayload(delivery_id=uuid.UUID(delivery_id))
        first, second = await asyncio.gather(
            deliver_alert(await _job(loopback_settings, database, tenant.tenant_id), payload),
            deliver_alert(await _job(loopback_settings, database, tenant.tenant_id), payload),
        )
        third = await deliver_alert(await _job(loopback_settings, database, tenant.tenant_id), payload)
    assert sorted([first["sent"], second["sent"], third["sent"]]) == [False, False, True]
    assert len(receiver.received) == 1
