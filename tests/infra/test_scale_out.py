"""Beyond one machine, on loopback: two API processes behind nginx reaching PostgreSQL through
PgBouncer in transaction mode, and two job workers. Tenants stay apart, every job runs once, rate
limits hold across processes, a killed worker's job is retried once, and the chat streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from backend.config import Settings
from backend.services.metrics.repository import COPY_MIN_POINTS
from backend.services.optimizer import get_template
from backend.services.queue.maintenance import retry_stalled_jobs
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_tenant
from tests.infra.scale_out import UPSTREAM_HEADER, Topology, require_system_binaries, scale_out
from tests.jobs.support import kill_hard, open_queue, wait_for
from tests.services.alerts.support import Receiver, run_engine, tenant_with_rule
from tests.services.connectors.fakes import serve

pytestmark = [pytest.mark.live, pytest.mark.slow]

LOGIN_LIMIT = 5
DONE = {"succeeded", "failed"}


@pytest.fixture(scope="module")
def topology(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_system_binaries()
    workdir = tmp_path_factory.mktemp("scale-out")
    with scale_out(database_urls, workdir, LOGIN_RATE_LIMIT_PER_IP=str(LOGIN_LIMIT)) as running:
        yield running


@pytest.fixture
async def api(topology: Topology) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=topology.url, timeout=60) as client:
        yield client


def _upstreams(responses: list[httpx.Response]) -> set[str]:
    return {response.headers[UPSTREAM_HEADER] for response in responses}


def _both_processes(topology: Topology) -> set[str]:
    return {url.removeprefix("http://") for url in topology.api_urls}


def _daily(metric: str, values: list[float]) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {"metric": metric, "ts": (start + timedelta(days=day)).isoformat(), "value": value}
        for day, value in enumerate(values)
    ]


async def _ingest(api: httpx.AsyncClient, tenant: TenantContext, points: list[dict[str, Any]]) -> None:
    response = await api.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


async def test_interleaved_requests_of_two_tenants_never_see_each_others_rows(
    api: httpx.AsyncClient, topology: Topology
) -> None:
    first, second = await create_tenant(api), await create_tenant(api)
    await _ingest(api, first, _daily("first_sales", [1.0] * 10))
    # A file this size is written through the staging table (COPY), which must work through the
    # pooler (and within a request: under the upload's job threshold).
    big = COPY_MIN_POINTS + 500
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = "".join(f"{(start + timedelta(hours=h)).isoformat()},100\n" for h in range(big))
    files = {"file": ("sales.csv", f"ts,second_sales\n{rows}".encode(), "text/csv")}
    uploaded = await api.post("/api/v1/metrics/upload", headers=second.headers, files=files)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["points"] == big
    expected = {first.tenant_id: ("first_sales", 10), second.tenant_id: ("second_sales", big)}
    tenants = [first, second] * 12

    async def catalog(tenant: TenantContext) -> httpx.Response:
        return await api.get("/api/v1/metrics", headers=tenant.headers)

    # Concurrent: the two tenants' transactions share PgBouncer's few server connections.
    responses = await asyncio.gather(*(catalog(tenant) for tenant in tenants))
    for tenant, response in zip(tenants, responses, strict=True):
        assert response.status_code == 200, response.text
        seen = [(item["name"], item["points"]) for item in response.json()["items"]]
        assert seen == [expected[tenant.tenant_id]]
    assert _upstreams(responses) == _both_processes(topology)
    other = await api.get("/api/v1/metrics/second_sales?bucket=month&agg=sum", headers=first.headers)
    assert other.status_code in (200, 404), other.text
    if other.status_code == 200:
        assert other.json()["items"] == []


async def _finished(
    api: httpx.AsyncClient, tenant: TenantContext, job_ids: list[str]
) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []

    async def all_done() -> bool:
        jobs.clear()
        for job_id in job_ids:
            response = await api.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)
            assert response.status_code == 200, response.text
            jobs.append(response.json())
        return all(job["status"] in DONE for job in jobs)

    deadline = asyncio.get_running_loop().time() + 120
    while not await all_done():
        assert asyncio.get_running_loop().time() < deadline, f"jobs still running: {jobs}"
        await asyncio.sleep(0.3)
    return jobs


async def _queue_runs(api: httpx.AsyncClient, tenant: TenantContext) -> list[str]:
    """Three background forecasts (a named model: no model selection to wait for) and two background
    optimizer runs; their job ids."""
    requests = [
        (
            "/api/v1/forecasts",
            {"metric": "revenue", "horizon": horizon, "model": "seasonal_naive", "async": True},
        )
        for horizon in (3, 5, 7)
    ] + [
        (
            "/api/v1/optimizer/runs",
            {"template": "product_mix", "params": get_template("product_mix").example(), "async": True},
        )
        for _ in range(2)
    ]
    job_ids = []
    for path, body in requests:
        response = await api.post(path, headers=tenant.headers, json=body)
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["job_id"])
    return job_ids


async def _queue_attempts(urls: DatabaseUrls, job_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Per status-row id: the queue job's status and how many times a worker started it."""
    connection = await asyncpg.connect(urls.require_worker().replace("+asyncpg", ""))
    try:
        rows = await connection.fetch(
            "select j.args->>'job_id' as job_id, j.status::text as status, "
            "count(e.id) filter (where e.type = 'started') as started "
            "from procrastinate.procrastinate_jobs j "
            "left join procrastinate.procrastinate_events e on e.job_id = j.id "
            "where j.args->>'job_id' = any($1::text[]) group by j.id",
            job_ids,
        )
    finally:
        await connection.close()
    return {row["job_id"]: (row["status"], row["started"]) for row in rows}


async def test_a_job_mix_queued_through_both_processes_runs_exactly_once_each(
    api: httpx.AsyncClient, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(api)
    await _ingest(api, tenant, _daily("revenue", [100.0 + day % 7 * 5 for day in range(56)]))
    job_ids = await _queue_runs(api, tenant)

    jobs = await _finished(api, tenant, job_ids)
    assert [(job["status"], job["attempts"]) for job in jobs] == [("succeeded", 1)] * len(job_ids), jobs
    attempts = await _queue_attempts(database_urls, job_ids)
    assert attempts == {job_id: ("succeeded", 1) for job_id in job_ids}
    forecasts = await api.get("/api/v1/forecasts", headers=tenant.headers)
    runs = await api.get("/api/v1/optimizer/runs", headers=tenant.headers)
    assert (forecasts.json()["total"], runs.json()["total"]) == (3, 2)


async def test_the_login_limit_holds_across_both_api_processes(
    api: httpx.AsyncClient, topology: Topology
) -> None:
    tenant = await create_tenant(api)
    credentials = {"email": tenant.email, "password": tenant.password}
    answers = [await api.post("/api/v1/auth/login", json=credentials) for _ in range(LOGIN_LIMIT + 1)]
    assert [answer.status_code for answer in answers] == [200] * LOGIN_LIMIT + [429]
    assert _upstreams(answers[:LOGIN_LIMIT]) == _both_processes(topology)
    assert "retry-after" in answers[-1].headers


def _holding_worker(topology: Topology, receiver_port: int) -> psutil.Process:
    """The worker process with a connection open to the receiver (the one delivering now)."""
    for worker in topology.workers:
        process = psutil.Process(worker.pid)
        if any(c.raddr and c.raddr.port == receiver_port for c in process.net_connections(kind="tcp")):
            return process
    raise AssertionError("no worker is connected to the receiver")


async def _heartbeat_age(urls: DatabaseUrls, job_id: str) -> float:
    """Seconds since the heartbeat of the worker that took ``job_id``'s queue job."""
    connection = await asyncpg.connect(urls.require_worker().replace("+asyncpg", ""))
    try:
        age = await connection.fetchval(
            "select extract(epoch from now() - w.last_heartbeat) from procrastinate.procrastinate_jobs j "
            "join procrastinate.procrastinate_workers w on w.id = j.worker_id "
            "where j.args->>'job_id' = $1",
            job_id,
        )
    finally:
        await connection.close()
    assert age is not None, "the job has no worker"
    return float(age)


async def _until_silent(urls: DatabaseUrls, job_id: str, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while (age := await _heartbeat_age(urls, job_id)) < seconds:
        assert asyncio.get_running_loop().time() < deadline, f"the worker beat {age:.1f} s ago"
        await asyncio.sleep(0.5)


async def _delivery_job(api: httpx.AsyncClient, tenant: TenantContext) -> dict[str, Any]:
    listed = await api.get("/api/v1/jobs", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    [job] = [job for job in listed.json()["items"] if job["kind"].startswith("alerts.")]
    return dict(job)


async def test_a_worker_killed_mid_job_is_retried_once_by_the_other(
    api: httpx.AsyncClient, topology: Topology, database_urls: DatabaseUrls, settings: Settings
) -> None:
    receiver = Receiver(hold=True)
    port = 0
    with serve(receiver.app()) as base:
        port = int(base.rsplit(":", 1)[1])
        ready = await tenant_with_rule(api, {"kind": "webhook", "url": f"{base}/hook"})
        assert (await run_engine(api, ready.tenant))["alerts"] == 1
        try:
            await wait_for(receiver.held.is_set, "a worker to send the webhook", limit_seconds=60)
            holder = _holding_worker(topology, port)
            [killed] = [worker for worker in topology.workers if worker.pid == holder.pid]
            kill_hard(killed)
        finally:
            receiver.released.set()
        job = await _delivery_job(api, ready.tenant)
        assert job["status"] == "running"
        # Older than any live worker's heartbeat (procrastinate beats every 10 s): only its jobs.
        silent = 11.0
        await _until_silent(database_urls, job["id"], silent)
        async with open_queue(settings, database_urls) as queue_app:
            assert await retry_stalled_jobs(queue_app, seconds_since_heartbeat=silent) == 1
        await wait_for(lambda: bool(receiver.accepted), "the surviving worker to deliver", limit_seconds=60)

    finished = await _finished(api, ready.tenant, [job["id"]])
    assert [(one["status"], one["attempts"]) for one in finished] == [("succeeded", 2)]
    assert len(receiver.accepted) == 1 and len(receiver.received) == 2


async def test_the_streaming_chat_reaches_its_final_event_through_nginx(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    await _ingest(api, tenant, _daily("revenue", [100.0 + day for day in range(30)]))
    names: list[str] = []
    final: dict[str, Any] = {}
    body = {"message": "How is revenue doing?"}
    async with api.stream("POST", "/api/v1/coach/chat/stream", headers=tenant.headers, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
                names.append(name)
            elif line.startswith("data:") and name == "final":
                final = json.loads(line.split(":", 1)[1])
    assert names[-1] == "final", names
    assert final["reply"]
