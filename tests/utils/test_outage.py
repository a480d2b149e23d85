"""A database outage heals by itself: 503 + Retry-After while PostgreSQL is down, service again
within seconds of its return, the job worker back at work, nothing acknowledged lost.

Each test runs the real app (and worker) on a PRIVATE embedded server that it stops and
starts again, as a restart or a failover would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text

from backend.config import Settings
from backend.services.queue import JobKind, JobRun, Task
from backend.utils.database import Database
from backend.utils.database_errors import is_connection_failure
from backend.worker import TASKS, run_worker
from tests.conftest import app_client, client_for, make_settings, running_app
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import queue_job
from tests.private_database import PrivateDatabase, private_database

QUEUE = "tests_outage"
# The goal: the first success within 5 s of PostgreSQL accepting connections again (measured: <0.5 s).
RECOVERY_BOUND_SECONDS = 5.0


class Echo(BaseModel):
    n: int


ECHO = JobKind("tests.outage_echo", Echo, queue=QUEUE)


async def outage_echo(run: JobRun, payload: Echo) -> dict[str, Any]:
    return {"echo": payload.n}


@pytest.fixture(scope="module")
def private_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDatabase]:
    with private_database(Path(tmp_path_factory.mktemp("outage"))) as database:
        yield database


@pytest.fixture
async def running(private_db: PrivateDatabase) -> AsyncIterator[tuple[Settings, httpx.AsyncClient, Database]]:
    settings = make_settings(private_db.urls)
    settings = settings.model_copy(
        update={"jobs": settings.jobs.model_copy(update={"worker_queues": [QUEUE]})}
    )
    async with running_app(settings) as application, client_for(application) as http:
        yield settings, http, application.state.database
    if not private_db.server.is_running():  # a failed test must not leave the next one without a server
        private_db.start()


async def _write(http: httpx.AsyncClient, tenant: TenantContext, day: int) -> httpx.Response:
    ts = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T00:00:00Z"
    point = {"metric": "outage_writes", "ts": ts, "value": day}
    return await http.post("/api/v1/metrics", headers=tenant.headers, json={"points": [point]})


async def _stored_days(database: Database, tenant: TenantContext) -> set[int]:
    async with database.tenant_session(tenant.tenant_id) as session:
        rows = await session.execute(
            text("select value from business_metrics where metric = 'outage_writes'")
        )
    return {int(value) for (value,) in rows}


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"]["code"] == "database_unavailable"


async def _poll_until_ok(http: httpx.AsyncClient, tenant: TenantContext) -> tuple[float, list[int]]:
    """Seconds until the first 2xx, and every status seen on the way."""
    loop = asyncio.get_running_loop()
    started, statuses = loop.time(), []
    while loop.time() - started < 4 * RECOVERY_BOUND_SECONDS:
        response = await http.get("/api/v1/tenants/me", headers=tenant.headers)
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
    return loop.time() - started, statuses


async def test_api_answers_503_during_an_outage_and_serves_again_within_seconds(
    private_db: PrivateDatabase, running: tuple[Settings, httpx.AsyncClient, Database]
) -> None:
    _, http, database = running
    tenant = await create_tenant(http)
    acknowledged = {day for day in range(20) if (await _write(http, tenant, day)).is_success}
    assert len(acknowledged) == 20
    # Several pooled connections: the restart kills every one of them.
    await asyncio.gather(*(http.get("/api/v1/tenants/me", headers=tenant.headers) for _ in range(4)))

    await asyncio.to_thread(private_db.stop)
    _assert_unavailable(await _write(http, tenant, 100))
    _assert_unavailable(await http.get("/api/v1/tenants/me", headers=tenant.headers))
    _assert_unavailable(await http.get("/api/v1/jobs", headers=tenant.headers))
    ready = await http.get("/api/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["ok"] is False

    await asyncio.to_thread(private_db.start)
    seconds, statuses = await _poll_until_ok(http, tenant)
    assert statuses[-1] == 200, statuses
    assert seconds < RECOVERY_BOUND_SECONDS, (seconds, statuses)
    # No request fails once the server accepts connections: the dead pooled ones are not tried.
    assert statuses == [200]
    assert (await http.get("/api/ready")).status_code == 200

    for day in range(20, 30):
        assert (await _write(http, tenant, day)).is_success
        acknowledged.add(day)
    assert acknowledged <= await _stored_days(database, tenant)


async def _job_status(http: httpx.AsyncClient, tenant: TenantContext, job_id: uuid.UUID) -> str:
    response = await http.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)
    return str(response.json()["status"]) if response.status_code == 200 else f"http {response.status_code}"


async def _until_succeeded(
    http: httpx.AsyncClient, tenant: TenantContext, job_id: uuid.UUID, limit_seconds: float = 30.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline, status = loop.time() + limit_seconds, ""
    while loop.time() < deadline:
        status = await _job_status(http, tenant, job_id)
        if status == "succeeded":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} still {status!r} after {limit_seconds} s")


async def _enqueue_when_back(database: Database, tenant: TenantContext, n: int) -> uuid.UUID:
    for _ in range(50):
        try:
            return await queue_job(database, tenant.tenant_id, ECHO, Echo(n=n))
        except Exception as error:
            if not is_connection_failure(error):
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("the database did not come back")


async def test_worker_reconnects_after_an_outage_and_runs_jobs_deferred_after_it(
    private_db: PrivateDatabase, running: tuple[Settings, httpx.AsyncClient, Database]
) -> None:
    settings, http, database = running
    tenant = await create_tenant(http)
    idle = (await http.get("/api/ready")).json()
    assert idle["status"] == "degraded" and idle["live_workers"] == 0
    assert idle["checks"]["workers"] == {
        "ok": False,
        "detail": idle["checks"]["workers"]["detail"],
        "required": False,
    }

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop, tasks=(*TASKS, Task(ECHO, outage_echo))))
    try:
        await _until_succeeded(http, tenant, await queue_job(database, tenant.tenant_id, ECHO, Echo(n=1)))
        ready = (await http.get("/api/ready")).json()
        assert ready["checks"]["workers"]["ok"] is True and ready["live_workers"] == 1

        await asyncio.to_thread(private_db.stop)
        await asyncio.sleep(1.0)  # the worker's connections see the end and its listener fails
        assert (await http.get("/api/ready")).json()["live_workers"] is None
        await asyncio.to_thread(private_db.start)

        deferred_after = await _enqueue_when_back(database, tenant, 2)
        await _until_succeeded(http, tenant, deferred_after)
        assert not worker.done(), "the worker stopped"
        assert (await http.get("/api/ready")).json()["live_workers"] >= 1
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)


async def test_readiness_can_require_a_live_worker(
    private_db: PrivateDatabase, running: tuple[Settings, httpx.AsyncClient, Database]
) -> None:
    settings, _, _ = running
    strict = settings.model_copy(
        update={"jobs": settings.jobs.model_copy(update={"ready_requires_worker": True})}
    )
    async with app_client(strict) as http:
        response = await http.get("/api/ready")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "not_ready" and body["checks"]["workers"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
