"""A large file uploaded to a data source runs as a ``connectors.upload`` job: 202, progress per
chunk, the sync run records the outcome, and a bad cell fails it with nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.services.metrics import upload_service
from backend.utils.database import Database
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import record_progress
from tests.services.connectors.fixtures import api, database, loopback_app, loopback_settings, worker
from tests.services.connectors.support import Worker, create_source, stored_points

__all__ = ["api", "database", "loopback_app", "loopback_settings", "worker"]


@pytest.fixture(autouse=True)
def small_sync_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything over 10 points is queued, and a job writes 40 points per chunk."""
    monkeypatch.setattr(upload_service, "SYNC_MAX_UPLOAD_POINTS", 10)
    monkeypatch.setattr(upload_service, "JOB_WRITE_CHUNK_POINTS", 40)


def _daily_csv(days: int, *, bad_last: bool = False) -> bytes:
    """`date,revenue,orders`: two points per row."""
    lines = ["date,revenue,orders"]
    lines += [
        f"2026-01-{1 + day % 28:02d}T{day // 28:02d}:00:00,{100 + day},{day % 7}" for day in range(days)
    ]
    if bad_last:
        lines.append("2026-02-01,lots,3")
    return ("\n".join(lines) + "\n").encode()


async def _upload(
    api: httpx.AsyncClient, tenant: TenantContext, content: bytes
) -> tuple[str, httpx.Response]:
    source = await create_source(api, tenant.headers, connector_type="file", config={"layout": "wide"})
    files = {"file": ("sales.csv", content, "text/csv")}
    response = await api.post(
        f"/api/v1/data-sources/{source['id']}/upload", headers=tenant.headers, files=files
    )
    return str(source["id"]), response


async def _sync_runs(api: httpx.AsyncClient, tenant: TenantContext, source_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/data-sources/{source_id}/syncs", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_large_data_source_upload_is_a_job_with_progress_per_chunk_recorded_as_a_sync(
    api: httpx.AsyncClient, database: Database, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await create_tenant(api)
    source_id, queued = await _upload(api, tenant, _daily_csv(50))
    assert queued.status_code == 202, queued.text
    assert queued.headers["Location"] == queued.json()["status_url"]
    (waiting,) = await _sync_runs(api, tenant, source_id)
    assert (waiting["status"], waiting["trigger"]) == ("queued", "upload")
    assert await stored_points(database, tenant.tenant_id) == {}

    reports = record_progress(monkeypatch)
    await worker.run()
    job = (await api.get(queued.headers["Location"], headers=tenant.headers)).json()
    assert (job["kind"], job["status"]) == ("connectors.upload", "succeeded"), job
    assert job["result"]["result"]["inserted"] == 100
    # 40 points per chunk at two points per row: 20 rows a chunk.
    assert [r.message for r in reports if str(r.job_id) == job["id"]] == [
        "20 rows read, 40 points written",
        "40 rows read, 80 points written",
        "50 rows read, 100 points written",
    ]
    (done,) = await _sync_runs(api, tenant, source_id)
    assert (done["status"], done["records_read"], done["points_written"]) == ("succeeded", 50, 100)
    points = await stored_points(database, tenant.tenant_id)
    assert len(points) == 100 and points[("revenue", "2026-01-01T00:00:00+00:00", "")] == 100.0


async def test_a_queued_data_source_upload_with_a_bad_cell_writes_nothing_and_fails_its_sync(
    api: httpx.AsyncClient, database: Database, worker: Worker
) -> None:
    tenant = await create_tenant(api)
    source_id, queued = await _upload(api, tenant, _daily_csv(50, bad_last=True))
    assert queued.status_code == 202, queued.text
    await worker.run()
    job = (await api.get(queued.headers["Location"], headers=tenant.headers)).json()
    assert job["status"] == "failed", job
    assert job["error"]["details"]["problems"][0]["row"] == 52
    (run,) = await _sync_runs(api, tenant, source_id)
    assert run["status"] == "failed" and len(run["error"]["details"]["problems"]) == 1
    # Two chunks were written before the bad row was read: the refusal rolled them back.
    assert await stored_points(database, tenant.tenant_id) == {}
