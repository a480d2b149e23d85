"""A worker killed mid-sync (SIGKILL) leaves no partial or duplicate points; the retried job ends exact."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from backend.config import Settings
from backend.services.queue.maintenance import retry_stalled_jobs
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_tenant
from tests.jobs.support import kill_hard, open_queue, run_pending_jobs, wait_for, worker_running
from tests.services.connectors.fakes import FakeState, free_port, serve, stripe_app, stripe_txn
from tests.services.connectors.support import create_stripe_source, start_sync, stored_points

DAY = datetime(2026, 7, 1, tzinfo=UTC)
USD = '{"currency":"usd"}'


pytestmark = pytest.mark.live


async def test_worker_killed_mid_sync_is_retried_and_writes_exactly_the_right_points(
    api: httpx.AsyncClient, database: Database, database_urls: DatabaseUrls, loopback_settings: Settings
) -> None:
    tenant = await create_tenant(api)
    transactions = [
        stripe_txn(f"txn_{i}", DAY.replace(hour=i), "charge", 1_000 * i, 10 * i) for i in range(1, 6)
    ]
    state = FakeState(hold_path="/v1/balance_transactions", hold_after=1)  # page 2 hangs
    metrics_port = free_port()
    with serve(stripe_app(state, transactions)) as base:
        source = await create_stripe_source(api, tenant.headers, base, page_size=2)
        sync = await start_sync(api, tenant.headers, source["id"])
        try:
            with worker_running(database_urls, metrics_port, "connectors", TEST_SECRET_KEY) as process:
                await wait_for(state.held.is_set, "the worker to reach page 2")
                job = (await api.get(f"/api/v1/jobs/{sync['job_id']}", headers=tenant.headers)).json()
                assert job["status"] == "running"
                async with httpx.AsyncClient() as http:
                    scraped = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
                assert scraped.status_code == 200 and "job_queue_depth" in scraped.text
                kill_hard(process)
        finally:
            state.released.set()
        assert await stored_points(database, tenant.tenant_id) == {}  # nothing half-written

        async with open_queue(loopback_settings, database_urls) as queue_app:
            assert await retry_stalled_jobs(queue_app, seconds_since_heartbeat=0) == 1
        await run_pending_jobs(loopback_settings, database_urls, ["connectors"])

    history = (await api.get(f"/api/v1/data-sources/{source['id']}/syncs", headers=tenant.headers)).json()
    run = history["items"][0]
    assert (history["total"], run["status"], run["attempts"], run["records_read"]) == (1, "succeeded", 2, 5)
    job = (await api.get(f"/api/v1/jobs/{sync['job_id']}", headers=tenant.headers)).json()
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert await stored_points(database, tenant.tenant_id) == {
        ("revenue", DAY.isoformat(), USD): 150.0,
        ("orders", DAY.isoformat(), USD): 5.0,
        ("fees", DAY.isoformat(), USD): 1.5,
    }
