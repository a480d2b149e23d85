"""A worker killed mid-sync (SIGKILL) leaves no partial or duplicate points; the retried job ends exact."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from backend.config import PROJECT_ROOT, Settings
from backend.services.queue.maintenance import retry_stalled_jobs
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_tenant
from tests.jobs.support import open_queue, run_pending_jobs
from tests.services.connectors.fakes import FakeState, free_port, serve, stripe_app, stripe_txn
from tests.services.connectors.support import create_stripe_source, start_sync, stored_points

DAY = datetime(2026, 7, 1, tzinfo=UTC)
USD = '{"currency":"usd"}'


pytestmark = pytest.mark.live


def _worker_process(urls: DatabaseUrls, metrics_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ENVIRONMENT": "test",
        "DATABASE_URL": urls.app,
        "DATABASE_WORKER_URL": urls.require_worker(),
        "DATABASE_OWNER_URL": urls.owner,
        "SECRET_KEY": TEST_SECRET_KEY,  # the development credentials key derives from it
        "CONNECTOR_ALLOW_PRIVATE_NETWORKS": "true",
        "WORKER_QUEUES": "connectors",
        "WORKER_METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CONNECTOR_ENCRYPTION_KEYS", None)
    return subprocess.Popen([sys.executable, "-m", "backend.worker"], env=env, cwd=PROJECT_ROOT)


async def _wait_for(condition: Callable[[], bool], what: str, limit_seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


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
        process = _worker_process(database_urls, metrics_port)
        try:
            await _wait_for(state.held.is_set, "the worker to reach page 2")
            job = (await api.get(f"/api/v1/jobs/{sync['job_id']}", headers=tenant.headers)).json()
            assert job["status"] == "running"
            async with httpx.AsyncClient() as http:
                scraped = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert scraped.status_code == 200 and "job_queue_depth" in scraped.text
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
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
