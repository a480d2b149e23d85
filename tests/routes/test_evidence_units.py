"""Unit-level studies through the API: JSON rows, CSV and .xlsx uploads, 422s naming row and
column with nothing stored or queued, heavy studies as jobs with progress, roles, OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pandas as pd

from backend.config import Settings
from backend.services.evidence.units import frame_rows
from backend.utils.database_urls import DatabaseUrls
from backend.utils.spreadsheets import write_xlsx
from tests.factories import TenantContext, create_tenant, invite_and_activate
from tests.jobs.support import run_fast_retry_jobs
from tests.services.evidence.unit_synthetic import ab_test, confounded_units

URL = "/api/v1/evidence/unit-studies"
FAST = {"refutation_simulations": 10, "compare_methods": False}
AB_STUDY: dict[str, Any] = {
    "unit_id": "Visitor",
    "treatment": "Variant B",
    "outcome": "order_value",
    "covariates": ["visits"],
    "categorical": ["device"],
    "segment": "device",
    "randomized": True,
    "options": FAST,
}


def _ab_csv(frame: pd.DataFrame) -> bytes:
    renamed = frame.rename(columns={"visitor": "Visitor", "variant_b": "Variant B"})
    return renamed.to_csv(index=False).encode()


async def _nothing_queued_or_stored(client: httpx.AsyncClient, tenant: TenantContext) -> None:
    jobs = (await client.get("/api/v1/jobs", headers=tenant.headers)).json()
    edges = (await client.get("/api/v1/evidence/edges", headers=tenant.headers)).json()
    assert (jobs["total"], edges["total"]) == (0, 0)


async def test_json_study_estimates_the_ab_lift_with_segments(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    rows = [
        {
            "Visitor": r["visitor"],
            "Variant B": r["variant_b"],
            **{k: r[k] for k in ("order_value", "visits", "device")},
        }
        for r in frame_rows(ab_test(n=600, lift=3.0, seed=4))
    ]
    response = await client.post(URL, json={**AB_STUDY, "rows": rows}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    estimate = body["result"]["estimate"]
    assert estimate["ci_low"] <= 3.0 <= estimate["ci_high"]
    assert body["result"]["verdict"] == "supported"
    assert body["units"] == 600 and body["treated"] == 300
    assert {e["segment"] for e in body["segments"]["effects"]} == {"desktop", "mobile", "tablet"}
    assert body["segments"]["heterogeneity"]["df"] == 2
    await _nothing_queued_or_stored(client, tenant)


async def test_csv_and_xlsx_uploads_give_the_same_study(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    frame = ab_test(n=300, lift=3.0, seed=6)
    csv_answer = await client.post(
        f"{URL}/upload",
        headers=tenant.headers,
        files={"file": ("study.csv", _ab_csv(frame), "text/csv")},
        data={"study": json.dumps(AB_STUDY)},
    )
    assert csv_answer.status_code == 200, csv_answer.text
    renamed = frame.rename(columns={"visitor": "Visitor", "variant_b": "Variant B"})
    workbook = write_xlsx([list(renamed.columns), *renamed.itertuples(index=False)])
    xlsx_answer = await client.post(
        f"{URL}/upload",
        headers=tenant.headers,
        files={"file": ("study.xlsx", workbook, "application/octet-stream")},
        data={"study": json.dumps(AB_STUDY)},
    )
    assert xlsx_answer.status_code == 200, xlsx_answer.text
    first, second = csv_answer.json()["result"]["estimate"], xlsx_answer.json()["result"]["estimate"]
    assert abs(first["value"] - second["value"]) < 1e-6


async def test_bad_upload_names_every_row_and_column_and_stores_nothing(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    lines = _ab_csv(ab_test(n=100, lift=3.0, seed=2)).decode().splitlines()
    lines[3] = lines[2]  # a duplicate visitor id on line 4 (the header is line 1)
    cells = lines[5].split(",")
    cells[2] = "12;50"  # not a number
    lines[5] = ",".join(cells)
    response = await client.post(
        f"{URL}/upload",
        headers=tenant.headers,
        files={"file": ("study.csv", "\n".join(lines).encode(), "text/csv")},
        data={"study": json.dumps(AB_STUDY)},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    assert {(e["row"], e["column"]) for e in error["details"]["problems"]} == {
        (4, "visitor"),
        (6, "order_value"),
    }
    await _nothing_queued_or_stored(client, tenant)


async def test_bad_studies_are_422_naming_the_problem(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    rows = frame_rows(ab_test(n=100, lift=3.0, seed=2))
    base = {"unit_id": "visitor", "treatment": "variant_b", "outcome": "order_value", "options": FAST}
    unknown = await client.post(
        URL, json={**base, "covariates": ["age"], "rows": rows}, headers=tenant.headers
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["problems"][0]["unknown"] == [
        "age"
    ]
    flat = [{**r, "variant_b": 1} for r in rows]
    constant = await client.post(URL, json={**base, "rows": flat}, headers=tenant.headers)
    assert constant.json()["error"]["code"] == "treatment_without_variation"
    few = await client.post(URL, json={**base, "rows": rows[:20]}, headers=tenant.headers)
    assert few.json()["error"]["code"] == "too_few_units"
    bad_study = await client.post(
        f"{URL}/upload",
        headers=tenant.headers,
        files={"file": ("study.csv", b"visitor,variant_b\n", "text/csv")},
        data={"study": '{"unit_id": "visitor"}'},
    )
    assert bad_study.status_code == 422 and bad_study.json()["error"]["code"] == "invalid_study"
    await _nothing_queued_or_stored(client, tenant)


async def test_a_heavy_study_runs_as_a_job_with_progress_and_its_result(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(client)
    frame = confounded_units(n=1000, covariates=25, effect=1.0, seed=11, strength=0.3)
    study = {
        "unit_id": "unit",
        "treatment": "treatment",
        "outcome": "outcome",
        "covariates": [f"x{i + 1}" for i in range(25)],
        "options": {"refutation_simulations": 20, "compare_methods": False},
        "rows": frame_rows(frame),
    }
    queued = await client.post(URL, json=study, headers=tenant.headers)
    assert queued.status_code == 202, queued.text
    assert "exceeds the synchronous limit" in queued.json()["reason"]
    await run_fast_retry_jobs(settings, database_urls, "evidence")
    job = (await client.get(f"/api/v1/jobs/{queued.json()['job_id']}", headers=tenant.headers)).json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100
    result = job["result"]
    assert len(result["result"]["adjustment_set"]) == 25
    assert abs(result["result"]["estimate"]["value"] - 1.0) < 0.08


async def test_viewer_cannot_run_a_study_and_openapi_documents_it(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    body = {"unit_id": "u", "treatment": "t", "outcome": "y", "rows": [{"u": "a", "t": 1, "y": 2}]}
    assert (await client.post(URL, json=body, headers=viewer)).status_code == 403
    spec = (await client.get("/openapi.json")).json()["paths"]
    for path in (URL, f"{URL}/upload"):
        operation = spec[path]["post"]
        assert operation["summary"] and "invalid_rows" in operation["description"]
        assert {"200", "202", "403", "422"} <= set(operation["responses"])


async def test_a_metric_analysis_accepts_more_than_20_confounders(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    confounders = [f"covariate_{i}" for i in range(25)]
    body = {"outcome": "revenue", "treatment": "ad_spend", "confounders": confounders}
    response = await client.post("/api/v1/evidence/analyze", json=body, headers=tenant.headers)
    # Past the schema (which capped confounders at 20): the metrics are checked against the catalog.
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_metrics"
    assert len(response.json()["error"]["details"]["problems"][0]["unknown"]) == 27
