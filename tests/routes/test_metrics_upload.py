"""Uploads through the API: wide files with text dimension columns, the dry run's mapping, bad cells."""

from __future__ import annotations

import io
from datetime import datetime

import httpx
from openpyxl import Workbook

from backend.schemas.metrics import UploadRead
from tests.factories import TenantContext, create_tenant

STORES = ("north", "south", "east")
DAYS = 30


def _wide_returns_csv() -> str:
    """The file of the issue: 30 days x 3 stores, `date,store,returns` (90 data rows)."""
    lines = ["date,store,returns"]
    for day in range(1, DAYS + 1):
        for index, store in enumerate(STORES):
            lines.append(f"2026-11-{day:02d},{store},{day + index}")
    return "\n".join(lines) + "\n"


async def _upload(
    client: httpx.AsyncClient, tenant: TenantContext, name: str, content: bytes, **form: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/metrics/upload", headers=tenant.headers, files={"file": (name, content)}, data=form
    )


async def _rollup_by_store(client: httpx.AsyncClient, tenant: TenantContext, metric: str) -> dict[str, float]:
    response = await client.get(
        f"/api/v1/metrics/{metric}",
        headers=tenant.headers,
        params={"bucket": "month", "group_by": "store", "tz": "UTC"},
    )
    assert response.status_code == 200, response.text
    return {s["group"]: s["points"][0]["value"] for s in response.json()["series"]}


async def test_a_wide_csv_with_a_text_store_column_stores_returns_per_store(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    response = await _upload(client, tenant, "returns.csv", _wide_returns_csv().encode())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mapping"]["dimension_columns"] == ["store"]
    assert body["mapping"]["metric_columns"] == ["returns"]
    assert body["result"]["inserted"] == 90 and body["error_count"] == 0
    expected = {store: float(sum(day + i for day in range(1, DAYS + 1))) for i, store in enumerate(STORES)}
    assert await _rollup_by_store(client, tenant, "returns") == expected


async def test_a_wide_xlsx_with_text_dimensions_and_two_metrics(client: httpx.AsyncClient) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["date", "store", "channel", "returns", "orders"])
    sheet.append([datetime(2026, 11, 1), "north", "web", 2, 10])
    sheet.append([datetime(2026, 11, 1), "south", "shop", 3, 12.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    tenant = await create_tenant(client)
    response = await _upload(client, tenant, "book.xlsx", buffer.getvalue())
    assert response.status_code == 200, response.text
    mapping = response.json()["mapping"]
    assert (mapping["dimension_columns"], mapping["metric_columns"]) == (
        ["store", "channel"],
        ["returns", "orders"],
    )
    assert mapping["points_per_metric"] == {"orders": 2, "returns": 2}
    assert await _rollup_by_store(client, tenant, "orders") == {"north": 10.0, "south": 12.5}


async def test_numeric_store_codes_are_dimensions_when_named(client: httpx.AsyncClient) -> None:
    csv = b"date,store,returns\n2026-11-01,101,4\n2026-11-01,102,5\n"
    tenant = await create_tenant(client)
    guessed = await _upload(client, tenant, "codes.csv", csv, dry_run="true")
    assert guessed.json()["mapping"]["metric_columns"] == ["store", "returns"]  # numbers: metrics
    named = await _upload(client, tenant, "codes.csv", csv, dimensions="store")
    assert named.status_code == 200, named.text
    assert named.json()["mapping"]["dimension_columns"] == ["store"]
    assert await _rollup_by_store(client, tenant, "returns") == {"101": 4.0, "102": 5.0}
    unknown = await _upload(client, tenant, "codes.csv", csv, dimensions="store,region")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["problems"][0]["unknown"] == ["region"]


async def test_every_bad_cell_of_a_wide_file_is_named_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    csv = (
        b"date,store,returns,orders\n2026-11-01,north,4,1\n2026-11-02,south,12k,2\n"
        b"later,east,3,1\n2026-11-04,west,5,x\n"
    )
    tenant = await create_tenant(client)
    response = await _upload(client, tenant, "bad.csv", csv)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [(e["row"], e["column"]) for e in details["problems"]] == [
        (3, "returns"),
        (4, "date"),
        (5, "orders"),
    ]
    assert "'12k' is not a number" in details["problems"][0]["message"]
    catalog = (await client.get("/api/v1/metrics", headers=tenant.headers)).json()
    assert catalog["total"] == 0


async def test_a_dry_run_answers_the_mapping_with_its_errors_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    csv = _wide_returns_csv() + "2026-12-01,north,lots\n"
    tenant = await create_tenant(client)
    response = await _upload(client, tenant, "returns.csv", csv.encode(), dry_run="true")
    assert response.status_code == 200, response.text
    body = response.json()
    UploadRead.model_validate(body)
    assert body["dry_run"] is True and body["result"] is None
    assert body["mapping"] == {
        "layout": "wide",
        "timestamp_column": "date",
        "dimension_columns": ["store"],
        "metric_columns": ["returns"],
        "points_per_metric": {"returns": 90},
        "first_ts": body["mapping"]["first_ts"],
        "last_ts": body["mapping"]["last_ts"],
    }
    assert body["mapping"]["first_ts"].startswith("2026-11-01") and body["mapping"]["last_ts"].startswith(
        "2026-11-30"
    )
    assert body["preview"][0] == {
        "metric": "returns",
        "ts": body["preview"][0]["ts"],
        "value": 1.0,
        "dimensions": {"store": "north"},
    }
    assert (body["error_count"], body["errors"][0]["row"], body["errors"][0]["column"]) == (1, 92, "returns")
    assert (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["total"] == 0


async def test_a_wide_header_that_repeats_a_column_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await _upload(client, tenant, "dup.csv", b"date,returns,returns\n2026-11-01,1,2\n")
    assert response.status_code == 422
    assert response.json()["error"]["details"]["problems"][0]["repeated"] == ["returns"]
