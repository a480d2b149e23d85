"""A worker killed (SIGKILL) while the SMTP server holds its digest: the server never accepted it,
the retried job sends it once with the digest's stable Message-ID (which a repeat after a lost 250
would carry too, so mail systems take it as one message), the day is recorded once, and a later
send that day sends nothing."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from backend.config import MailSettings, Settings
from backend.services.insights import repository
from backend.services.queue.maintenance import retry_stalled_jobs
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_tenant
from tests.jobs.support import kill_worker_while_held, open_queue, run_pending_jobs
from tests.routes.test_insights import seed_daily
from tests.services.mail.smtp_server import RecordingHandler, SmtpServer

pytestmark = pytest.mark.live


class HoldingHandler(RecordingHandler):
    """Holds the first message's DATA until released (the sender may be dead by then)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.held.is_set():
            self.held.set()
            await asyncio.to_thread(self.released.wait)
            if server.transport is None or server.transport.is_closing():
                return "421 4.4.2 The client went away"  # (aiosmtpd usually cancels us first)
        return await super().handle_DATA(server, session, envelope)


async def test_a_worker_killed_mid_digest_is_retried_with_the_same_message_id_and_the_day_recorded_once(
    api: httpx.AsyncClient,
    database: Database,
    database_urls: DatabaseUrls,
    loopback_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp = SmtpServer()
    smtp.handler = handler = HoldingHandler()
    smtp._controller.handler = handler
    smtp.start()
    try:
        tenant = await create_tenant(api)
        await seed_daily(api, tenant, days=40)
        assert (
            await api.post("/api/v1/insights/follows", headers=tenant.headers, json={"metric": "revenue"})
        ).status_code == 201
        chosen = await api.put("/api/v1/insights/digest", headers=tenant.headers, json={"frequency": "daily"})
        assert chosen.status_code == 200, chosen.text
        queued = await api.post("/api/v1/insights/digest/send", headers=tenant.headers)
        assert queued.status_code == 202, queued.text

        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(smtp.port))
        hold = (handler.held, handler.released)
        await kill_worker_while_held(
            database_urls, "mail", TEST_SECRET_KEY, hold, "the worker to send the digest"
        )
        # The server drops a transaction whose client is gone before its 250: nothing landed.
        await asyncio.sleep(0.5)
        assert smtp.to(tenant.email) == []
        async with database.tenant_session(tenant.tenant_id) as session:
            found = await repository.get_subscription(session, tenant.owner_id)
            assert found is not None and found.last_sent_on is None  # the killed send recorded nothing

        mail = MailSettings(**smtp.settings())
        settings = loopback_settings.model_copy(update={"mail": mail})
        async with open_queue(settings, database_urls) as queue_app:
            assert await retry_stalled_jobs(queue_app, seconds_since_heartbeat=0) == 1
        await run_pending_jobs(settings, database_urls, ["mail"])
        again = await api.post("/api/v1/insights/digest/send", headers=tenant.headers)
        assert again.status_code == 202, again.text
        await run_pending_jobs(settings, database_urls, ["mail"])
        late = (await api.get(again.headers["Location"], headers=tenant.headers)).json()
        assert late["result"] == {"sent": False, "reason": "already_sent"}, late
    finally:
        smtp.stop()

    [copy] = smtp.to(tenant.email)  # the retry's, once
    expected = f"<digest.{tenant.owner_id}."
    assert str(copy.message["Message-ID"]).startswith(expected)  # the id any repeat of it would carry
    async with database.tenant_session(tenant.tenant_id) as session:
        found = await repository.get_subscription(session, tenant.owner_id)
        assert found is not None and found.last_sent_on is not None
