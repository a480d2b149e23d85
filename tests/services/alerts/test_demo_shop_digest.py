"""The demo shop, end to end: its planted riverside closure reaches the owner as a digest over a
real SMTP server (the insights, their numbers, a chart) and as a signed webhook alert to a receiver
on loopback, both delivered by the worker's own job code.

The insight engine is replayed as of the closure's second week (its ``today``): the demo's data ends
yesterday, so its planted events lie months back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest

from backend.config import MailSettings, Settings
from backend.demo.builder import build_demo
from backend.services.alerts.delivery import ALERTS_QUEUE
from backend.services.alerts.messages import verify_signature
from backend.services.alerts.types import SIGNATURE_HEADER, TIMESTAMP_HEADER
from backend.services.insights.service import run_engine
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import TEST_SECRET_KEY
from tests.factories import unique_email
from tests.jobs.support import run_pending_jobs, shared_compute
from tests.live_server import live_server
from tests.services.alerts.support import Receiver
from tests.services.connectors.fakes import serve
from tests.services.mail.smtp_server import SmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.live]

END = date(2026, 11, 30)  # the closure (120 days before) starts on a Sunday: a whole week follows
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def api(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The worker code below runs in this process with the test settings: same secret, same keys.
    with live_server(
        database_urls, tmp_path_factory.mktemp("digest-server"), SECRET_KEY=TEST_SECRET_KEY
    ) as base:
        yield base


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


async def _post(
    http: httpx.AsyncClient, path: str, body: dict[str, object], expect: int = 201
) -> dict[str, object]:
    response = await http.post(path, json=body)
    assert response.status_code == expect, response.text
    answer: dict[str, object] = response.json()
    return answer


async def test_the_demo_shops_closure_arrives_as_a_digest_and_a_signed_webhook_alert(
    api: str, loopback_settings: Settings, database_urls: DatabaseUrls, database: Database, smtp: SmtpServer
) -> None:
    demo = await asyncio.to_thread(build_demo, api, email=unique_email("demo"), end=END)
    closure = next(event for event in demo.shop.events if event.name == "riverside closure")
    # The morning after the first whole week (Monday to Sunday) of the closure.
    monday = closure.start + timedelta(days=(7 - closure.start.weekday()) % 7)
    assert monday + timedelta(days=6) < closure.start + timedelta(days=closure.days)
    today = monday + timedelta(days=7)
    receiver = Receiver()
    mail = MailSettings(**smtp.settings(from_address="Dyocense <no-reply@dyocense.test>"))
    settings = loopback_settings.model_copy(update={"mail": mail})
    with serve(receiver.app()) as hook_base:
        async with httpx.AsyncClient(base_url=api, timeout=60) as http:
            signed_in = await http.post(
                "/api/v1/auth/login", json={"email": demo.email, "password": demo.password}
            )
            http.headers["Authorization"] = f"Bearer {signed_in.json()['access_token']}"
            await _post(http, "/api/v1/insights/follows", {"metric": "revenue"})
            chosen = await http.put("/api/v1/insights/digest", json={"frequency": "weekly"})
            assert chosen.status_code == 200, chosen.text
            channel = await _post(
                http,
                "/api/v1/alerts/channels",
                {"name": "ops hook", "kind": "webhook", "url": f"{hook_base}/hook"},
            )
            rule = {
                "name": "revenue changes",
                "kind": "change",
                "metric": "revenue",
                "channel_ids": [channel["id"]],
            }
            await _post(http, "/api/v1/alerts/rules", rule)

            # The engine's morning run after that week.
            async with database.tenant_session(uuid.UUID(demo.tenant_id)) as session:
                summary = await run_engine(session, shared_compute(), today=today)
            assert summary.alerts >= 1, summary
            await run_pending_jobs(settings, database_urls, [ALERTS_QUEUE])

            queued = await http.post("/api/v1/insights/digest/send")
            assert queued.status_code == 202, queued.text
            await run_pending_jobs(settings, database_urls, ["mail"])
            job = (await http.get(queued.headers["Location"])).json()
            assert job["status"] == "succeeded" and job["result"]["sent"] is True, job
            feed = (await http.get("/api/v1/insights", params={"metric": "revenue", "limit": 100})).json()

    # The planted event, as the engine found it: in-store revenue (riverside's shop floor) fell, unusually.
    found = {item["type"]: item for item in feed["items"]}
    assert "top_contributors" in found, sorted(found)
    contributors = found["top_contributors"]["numbers"]["contributors"]
    top = contributors[0]
    assert (top["dimension"], top["value"]) == ("channel", "in_store") and top["change"] < 0, contributors

    [message] = smtp.to(demo.email)
    for item in feed["items"]:
        assert item["sentence"] in message.text  # each insight in its own words, with its numbers
    [image] = [part for part in message.message.walk() if part.get_content_type() == "image/png"]
    assert image.get_payload(decode=True).startswith(PNG_SIGNATURE)
    assert 'src="cid:chart-0"' in message.html

    assert receiver.received, "the webhook got no alert"
    secret = str(channel["secret"])
    for request in receiver.received:
        timestamp = int(request.headers[TIMESTAMP_HEADER.lower()])
        assert verify_signature(secret, timestamp, request.body, request.headers[SIGNATURE_HEADER.lower()])
    texts = [json.loads(request.body)["text"] for request in receiver.received]
    assert any(found["top_contributors"]["sentence"] in text for text in texts), texts
