"""Google Sheets (published CSV): parsed by the metrics upload path; an unchanged sheet writes nothing."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from backend.services.connectors.types.google_sheets import GoogleSheetsConfig
from backend.utils.database import Database
from tests.factories import create_tenant
from tests.services.connectors.fakes import serve
from tests.services.connectors.support import Worker, create_source, stored_points, sync_now


def _sheet_app(sheet: dict[str, str]) -> Starlette:
    async def export(request: Request) -> Response:
        return PlainTextResponse(sheet["csv"], media_type="text/csv")

    return Starlette(routes=[Route("/sheet.csv", export)])


async def test_sheet_sync_ingests_rows_and_skips_an_unchanged_sheet(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    sheet = {"csv": "date,revenue\n2026-02-01,10\n2026-02-02,12.5\n"}
    with serve(_sheet_app(sheet)) as base:
        source = await create_source(
            api, tenant.headers, connector_type="google_sheets", config={"csv_url": base + "/sheet.csv"}
        )
        first = await sync_now(api, worker, tenant.headers, source["id"])
        unchanged = await sync_now(api, worker, tenant.headers, source["id"])
        sheet["csv"] += "2026-02-03,7\n"
        changed = await sync_now(api, worker, tenant.headers, source["id"])
    assert (first["status"], first["points_written"]) == ("succeeded", 2)
    assert (unchanged["records_read"], unchanged["points_written"]) == (0, 0)
    assert (changed["records_read"], changed["points_written"]) == (3, 1)
    assert await stored_points(database, tenant.tenant_id) == {
        ("revenue", "2026-02-01T00:00:00+00:00", ""): 10.0,
        ("revenue", "2026-02-02T00:00:00+00:00", ""): 12.5,
        ("revenue", "2026-02-03T00:00:00+00:00", ""): 7.0,
    }


def test_an_edit_link_is_turned_into_its_csv_export_url() -> None:
    config = GoogleSheetsConfig(csv_url="https://docs.google.com/spreadsheets/d/abc_123/edit#gid=42")
    assert config.csv_url == "https://docs.google.com/spreadsheets/d/abc_123/export?format=csv&gid=42"
