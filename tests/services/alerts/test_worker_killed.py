"""A worker killed (SIGKILL) while it delivers a webhook: the retried job delivers it, and the
alert is delivered once — one accepted request at the receiver, one delivered row in the log."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from backend.config import Settings
from backend.models import AlertDelivery
from backend.services.alerts.types import DELIVERY_ID_HEADER
from backend.services.queue.maintenance import retry_stalled_jobs
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import TEST_SECRET_KEY
from tests.jobs.support import kill_worker_while_held, open_queue
from tests.services.alerts.support import Receiver, deliver, delivery_log, run_engine, webhook_rule

pytestmark = pytest.mark.live


async def test_a_worker_killed_mid_delivery_is_retried_and_the_alert_is_delivered_once(
    api: httpx.AsyncClient, database: Database, database_urls: DatabaseUrls, loopback_settings: Settings
) -> None:
    receiver = Receiver(hold=True)
    async with webhook_rule(api, receiver) as ready:
        tenant, channel = ready.tenant, ready.channel
        assert (await run_engine(api, tenant))["alerts"] == 1
        hold = (receiver.held, receiver.released)
        await kill_worker_while_held(
            database_urls, "alerts", TEST_SECRET_KEY, hold, "the worker to send the webhook"
        )
        assert receiver.accepted == set()  # the killed worker's request was never answered 2xx
        assert (await delivery_log(api, tenant, channel["id"]))["total"] == 0  # its transaction is gone

        async with open_queue(loopback_settings, database_urls) as queue_app:
            assert await retry_stalled_jobs(queue_app, seconds_since_heartbeat=0) == 1
        await deliver(loopback_settings, database_urls)
        await deliver(loopback_settings, database_urls)  # and nothing more to send
        assert (await run_engine(api, tenant))["alerts"] == 0

    delivery_ids = {request.headers[DELIVERY_ID_HEADER.lower()] for request in receiver.received}
    assert len(receiver.received) == 2 and len(delivery_ids) == 1  # the retry is recognisably a repeat
    assert receiver.accepted == delivery_ids
    log = await delivery_log(api, tenant, channel["id"])
    [attempt] = log["items"]
    assert (attempt["outcome"], attempt["attempt"], attempt["status_code"]) == ("delivered", 2, 204)
    async with database.tenant_session(tenant.tenant_id) as session:
        rows = (
            await session.execute(select(AlertDelivery.status, func.count()).group_by(AlertDelivery.status))
        ).all()
    assert [tuple(row) for row in rows] == [("delivered", 1)]
