"""Exports: rollups, stored forecasts and optimizer plans as CSV or .xlsx, formula cells neutralised."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from backend.utils.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, ExportFormat, negotiate, safe_filename
from tests.factories import TenantContext, create_forecast, create_tenant
from tests.routes.test_forecaster import _seeded_tenant
from tests.routes.test_optimizer import example

INJECTION = '=HYPERLINK("http://evil.example","x")'


async def _seed_stores(client: httpx.AsyncClient, tenant: TenantContext) -> None:
    points = [
        {
            "metric": "revenue",
            "ts": f"2026-11-0{day}T12:00:00Z",
            "value": -2.5 * day,
            "dimensions": {"store": store},
        }
        for day in (1, 2)
        for store in ("north", INJECTION)
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


def _csv(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text)))


def _sheet(response: httpx.Response) -> list[tuple[Any, ...]]:
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


ROLLUP = {"bucket": "day", "group_by": "store", "tz": "Europe/Paris"}


async def test_a_rollup_exports_as_csv_with_a_filename_and_neutralised_text(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _seed_stores(client, tenant)
    response = await client.get(
        "/api/v1/metrics/revenue", headers=tenant.headers, params={**ROLLUP, "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(CSV_MEDIA_TYPE)
    assert response.headers["content-disposition"] == 'attachment; filename="revenue-day-sum.csv"'
    rows = _csv(response)
    assert rows[0] == ["ts (Europe/Paris)", "store", "value", "count", "filled"]
    assert ["2026-11-01T00:00:00+01:00", "north", "-2.5", "1", "False"] in rows
    assert ["2026-11-01T00:00:00+01:00", "'" + INJECTION, "-2.5", "1", "False"] in rows
    assert not any(cell.startswith("=") for row in rows for cell in row)


async def test_a_rollup_exports_as_xlsx_by_accept_header_with_numbers_as_numbers(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _seed_stores(client, tenant)
    headers = {**tenant.headers, "Accept": XLSX_MEDIA_TYPE}
    response = await client.get("/api/v1/metrics/revenue", headers=headers, params=ROLLUP)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    rows = _sheet(response)
    assert rows[0] == ("ts (Europe/Paris)", "store", "value", "count", "filled")
    north = [row for row in rows[1:] if row[1] == "north"]
    assert north[1][2] == -5.0 and isinstance(north[1][2], int | float) and north[1][3] == 1
    assert north[0][0].isoformat() == "2026-11-01T00:00:00"  # the bucket's wall clock in Paris
    assert {row[1] for row in rows[1:]} == {"north", "'" + INJECTION}
    json_again = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params=ROLLUP)
    assert json_again.headers["content-type"] == "application/json"


async def test_raw_points_export_with_source_and_dimensions(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_stores(client, tenant)
    response = await client.get(
        "/api/v1/metrics/revenue", headers={**tenant.headers, "Accept": "text/csv"}, params={"tz": "UTC"}
    )
    rows = _csv(response)
    assert rows[0] == ["ts (UTC)", "value", "source", "dimensions"]
    assert ["2026-11-01T12:00:00+00:00", "-2.5", "manual", '{"store":"north"}'] in rows[1:]
    assert response.headers["content-disposition"] == 'attachment; filename="revenue-points.csv"'


async def test_an_unknown_format_is_a_422_listing_the_formats(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed_stores(client, tenant)
    response = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params={"format": "pdf"})
    assert response.status_code == 422
    assert all(word in response.text for word in ("json", "csv", "xlsx"))


async def test_a_stored_forecast_exports_its_points_with_their_intervals(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    forecast = await create_forecast(client, tenant.headers, metric="revenue", horizon=3, frequency="month")
    response = await client.get(
        f"/api/v1/forecasts/{forecast['id']}", headers=tenant.headers, params={"format": "xlsx"}
    )
    assert response.status_code == 200, response.text
    name = f"forecast-revenue-month-{forecast['id'][:8]}.xlsx"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    rows = _sheet(response)
    assert rows[0] == (
        "metric",
        "step",
        "period_start (UTC)",
        "mean",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
    )
    first = forecast["points"][0]
    assert rows[1][:2] == ("revenue", 1) and rows[1][3] == pytest.approx(first["mean"])
    assert rows[1][4:] == pytest.approx(
        (first["lower"]["80"], first["upper"]["80"], first["lower"]["95"], first["upper"]["95"])
    )
    assert len(rows) == 4
    as_csv = await client.get(
        f"/api/v1/forecasts/{forecast['id']}", headers={**tenant.headers, "Accept": "text/csv"}
    )
    assert _csv(as_csv)[1][:2] == ["revenue", "1"]


async def test_an_optimizer_plan_exports_its_decisions_and_totals(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await client.post(
        "/api/v1/optimizer/runs",
        headers=tenant.headers,
        json={"template": "budget_allocation", "params": example("budget_allocation")},
    )
    assert created.status_code == 201, created.text
    run = created.json()
    response = await client.get(
        f"/api/v1/optimizer/runs/{run['id']}", headers=tenant.headers, params={"format": "csv"}
    )
    assert response.status_code == 200, response.text
    rows = _csv(response)
    assert rows[0] == ["section", "name", "value"]
    assert rows[1][:2] == ["objective", run["result"]["objective_label"]]
    decisions = {name: float(value) for section, name, value in rows[1:] if section == "decision"}
    assert decisions == pytest.approx(run["result"]["decisions"])
    assert response.headers["content-disposition"].endswith(f'-{run["id"][:8]}.csv"')


async def test_openapi_documents_the_export_media_types(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/metrics/{name}",
        "/api/v1/forecasts/{forecast_id}",
        "/api/v1/optimizer/runs/{run_id}",
    ):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert {"application/json", CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE} <= set(content), path
        assert "format" in {p["name"] for p in paths[path]["get"]["parameters"]}


def test_negotiation_prefers_the_format_parameter_then_the_highest_quality() -> None:
    assert negotiate("csv", XLSX_MEDIA_TYPE) is ExportFormat.CSV
    assert negotiate("json", "text/csv") is None
    assert negotiate(None, None) is None
    assert negotiate(None, "text/html,application/xhtml+xml,*/*;q=0.8") is None
    assert negotiate(None, f"application/json;q=0.5, {XLSX_MEDIA_TYPE}") is ExportFormat.XLSX
    assert negotiate(None, "text/csv;q=0.2, application/json;q=0.9") is None
    assert safe_filename("plan", '../"evil"\r\n', "x") == "plan-_evil_-x"
