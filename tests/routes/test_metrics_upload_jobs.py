"""Large uploads run as ``metrics.upload`` jobs: the file kept under RLS, progress, the same answer."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from backend.config import Settings
from backend.models import MetricUpload
from backend.services.metrics import upload_service as upload_jobs
from backend.services.metrics.upload_service import UploadOptions, background_reason, estimate_points
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import record_progress, run_fast_retry_jobs
from tests.routes.test_metrics_upload import _rollup_by_store, _upload, _wide_returns_csv


@pytest.fixture
def small_sync_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything over 10 points is queued, and a job writes 40 points per chunk."""
    monkeypatch.setattr(upload_jobs, "SYNC_MAX_UPLOAD_POINTS", 10)
    monkeypatch.setattr(upload_jobs, "JOB_WRITE_CHUNK_POINTS", 40)


async def _stored_uploads(database: Database, tenant: TenantContext) -> int:
    async with database.tenant_session(tenant.tenant_id) as session:
        return int(await session.scalar(select(func.count()).select_from(MetricUpload)) or 0)


async def _run_and_read_job(
    client: httpx.AsyncClient,
    tenant: TenantContext,
    queued: httpx.Response,
    settings: Settings,
    urls: DatabaseUrls,
) -> dict[str, object]:
    await run_fast_retry_jobs(settings, urls, upload_jobs.UPLOAD_QUEUE)
    response = await client.get(queued.headers["Location"], headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_size_rule_counts_rows_times_value_columns() -> None:
    csv = UploadOptions(filename="x.csv")
    assert estimate_points(b"date,store,returns,orders\n2026-01-01,a,1,2\n2026-01-02,b,3,4\n", csv) == 4
    assert estimate_points(b"metric,ts,value,store\nrevenue,2026-01-01,1,a", csv) == 1
    assert estimate_points(b"when,what\n1,2\n", csv) == 0  # refused in the request
    assert estimate_points(b"date,returns\n" * 100, UploadOptions(filename="x.pdf")) == 0
    assert background_reason(upload_jobs.SYNC_MAX_UPLOAD_POINTS) is None
    reason = background_reason(upload_jobs.SYNC_MAX_UPLOAD_POINTS + 1)
    assert reason is not None and "exceed" in reason


@pytest.mark.usefixtures("small_sync_limit")
async def test_a_large_upload_is_queued_kept_under_rls_and_written_by_the_job_with_progress(
    client: httpx.AsyncClient, database: Database, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant, other = await create_tenant(client), await create_tenant(client)
    queued = await _upload(client, tenant, "returns.csv", _wide_returns_csv().encode())
    assert queued.status_code == 202, queued.text
    assert queued.headers["Location"] == queued.json()["status_url"]
    assert "about 90 points" in queued.json()["reason"]
    assert (await _stored_uploads(database, tenant), await _stored_uploads(database, other)) == (1, 0)
    assert (await client.get(queued.headers["Location"], headers=other.headers)).status_code == 404
    job = await _run_and_read_job(client, tenant, queued, settings, database_urls)
    assert (job["kind"], job["status"], job["progress"]) == ("metrics.upload", "succeeded", 100), job
    assert job["message"] == "90 rows read, 90 points written"
    result = job["result"]
    assert isinstance(result, dict)
    assert result["result"]["inserted"] == 90 and result["mapping"]["dimension_columns"] == ["store"]
    assert (await _rollup_by_store(client, tenant, "returns"))["north"] == float(sum(range(1, 31)))
    assert await _stored_uploads(database, tenant) == 0  # the file is gone once written


@pytest.mark.usefixtures("small_sync_limit")
async def test_a_queued_upload_reports_rows_read_and_points_written_after_every_chunk(
    client: httpx.AsyncClient,
    settings: Settings,
    database_urls: DatabaseUrls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await create_tenant(client)
    queued = await _upload(client, tenant, "returns.csv", _wide_returns_csv().encode())
    assert queued.status_code == 202, queued.text
    reports = record_progress(monkeypatch)
    job = await _run_and_read_job(client, tenant, queued, settings, database_urls)
    assert job["status"] == "succeeded", job
    mine = [report for report in reports if str(report.job_id) == queued.json()["job_id"]]
    # 40 points per chunk of a one-metric file: 40 rows, then 80, then the last 10.
    assert [report.message for report in mine] == [
        "40 rows read, 40 points written",
        "80 rows read, 80 points written",
        "90 rows read, 90 points written",
    ]
    fractions = [report.fraction for report in mine]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[1] < 1, fractions


@pytest.mark.usefixtures("small_sync_limit")
async def test_a_queued_upload_with_a_bad_cell_fails_the_job_with_the_cells_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    content = (_wide_returns_csv() + "2026-12-01,north,lots\n").encode()
    queued = await _upload(client, tenant, "returns.csv", content)
    assert queued.status_code == 202, queued.text
    job = await _run_and_read_job(client, tenant, queued, settings, database_urls)
    assert job["status"] == "failed", job
    error = job["error"]
    assert isinstance(error, dict)
    assert error["details"]["problems"][0] | {"message": ""} == {
        "code": "invalid_cell",
        "row": 92,
        "column": "returns",
        "message": "",
    }
    assert (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["total"] == 0
    assert await _stored_uploads(database, tenant) == 0


@pytest.mark.usefixtures("small_sync_limit")
async def test_a_queued_dry_run_answers_the_mapping_as_its_result(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    queued = await _upload(client, tenant, "returns.csv", _wide_returns_csv().encode(), dry_run="true")
    assert queued.status_code == 202, queued.text
    job = await _run_and_read_job(client, tenant, queued, settings, database_urls)
    result = job["result"]
    assert isinstance(result, dict) and job["status"] == "succeeded"
    assert result["dry_run"] is True and result["mapping"]["points_per_metric"] == {"returns": 90}
    assert (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["total"] == 0


async def test_openapi_documents_the_queued_upload(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/api/v1/metrics/upload"]["post"]
    assert operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "JobAccepted"
    )
    assert "metrics.upload" in operation["description"]
