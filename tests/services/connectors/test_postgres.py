"""PostgreSQL connector: a read-only query (asyncpg, statement timeout) → points; incremental $1."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import make_url

from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import create_tenant
from tests.services.connectors.support import Worker, create_source, stored_points, sync_now

QUERY = """
select ts, metric, value, region from (values
  (timestamptz '2026-06-01 00:00+00', 'revenue', 10.0::float8, 'eu'),
  (timestamptz '2026-06-02 00:00+00', 'revenue', 12.5::float8, 'eu'),
  (timestamptz '2026-06-03 00:00+00', 'revenue', 9.0::float8, 'us')
) as t(ts, metric, value, region)
"""


WRITING_QUERY = (
    "with w as (delete from data_sources returning 1) select now() as ts, 'x' as metric, 1.0 as value from w"
)


async def _postgres_source(
    api: httpx.AsyncClient, headers: dict[str, str], urls: DatabaseUrls, **config: object
) -> dict[str, Any]:
    """A PostgreSQL source that connects to the test database as the application role."""
    dsn = make_url(urls.app).set(drivername="postgresql").render_as_string(hide_password=False)
    return await create_source(
        api, headers, connector_type="postgres", config=config, credentials={"dsn": dsn}
    )


async def test_postgres_query_becomes_points_and_incremental_passes_the_watermark(
    api: httpx.AsyncClient, worker: Worker, database: Database, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(api)
    source = await _postgres_source(
        api, tenant.headers, database_urls, query=QUERY + " where ts > $1", incremental=True
    )
    checked = (await api.post(f"/api/v1/data-sources/{source['id']}/test", headers=tenant.headers)).json()
    assert checked["ok"], checked
    first = await sync_now(api, worker, tenant.headers, source["id"])
    assert (first["status"], first["records_read"]) == ("succeeded", 3)
    assert first["cursor_after"] == {"watermark": "2026-06-03T00:00:00+00:00"}
    second = await sync_now(api, worker, tenant.headers, source["id"])
    assert (second["status"], second["records_read"]) == ("succeeded", 0)
    assert await stored_points(database, tenant.tenant_id) == {
        ("revenue", "2026-06-01T00:00:00+00:00", '{"region":"eu"}'): 10.0,
        ("revenue", "2026-06-02T00:00:00+00:00", '{"region":"eu"}'): 12.5,
        ("revenue", "2026-06-03T00:00:00+00:00", '{"region":"us"}'): 9.0,
    }


async def test_postgres_query_cannot_write(
    api: httpx.AsyncClient, worker: Worker, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(api)
    source = await _postgres_source(api, tenant.headers, database_urls, query=WRITING_QUERY)
    run = await sync_now(api, worker, tenant.headers, source["id"])
    assert run["status"] == "failed"
    assert run["error"]["code"] == "invalid_query"
    assert "read-only transaction" in run["error"]["message"]


async def test_postgres_test_names_missing_columns(
    api: httpx.AsyncClient, database_urls: DatabaseUrls
) -> None:
    tenant = await create_tenant(api)
    source = await _postgres_source(
        api, tenant.headers, database_urls, query="select now() as ts, 1.0 as amount"
    )
    checked = (await api.post(f"/api/v1/data-sources/{source['id']}/test", headers=tenant.headers)).json()
    assert checked["ok"] is False
    assert checked["error"]["code"] == "invalid_query"
    assert (
        checked["error"]["message"]
        == "the query must return columns ts, metric and value; missing metric, value"
    )
