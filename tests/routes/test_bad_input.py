"""Bad input gets a 4xx in the error envelope and changes nothing (issue 13, items 5–9).

Timestamps outside the supported range, NUL characters, unbounded numbers and dates,
unparseable bodies: each is refused up front, and rows stored before the rules existed
never break a read.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import TenantContext, create_goal, create_tenant, problem_locations

NUL = "\u0000"
_METHODS = ("get", "post", "put", "patch", "delete")


def _problem_locations(response: httpx.Response) -> list[list[Any]]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == "validation_failed", body
    return problem_locations(body["error"])


async def _ingest(client: httpx.AsyncClient, tenant: TenantContext, points: list[dict[str, Any]]) -> None:
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


def _month_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=35)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in _METHODS
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


# --------------------------------------------------------------------------- item 5: timestamps


@pytest.mark.parametrize(
    "ts",
    [
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:00:00-05:00",
        "1969-12-31T23:59:59Z",
        "2200-01-01",
    ],
)
async def test_json_ingest_refuses_timestamps_outside_the_supported_range(
    client: httpx.AsyncClient, ts: str
) -> None:
    tenant = await create_tenant(client)
    points = [
        {"metric": "revenue", "ts": "2026-01-01T00:00:00Z", "value": 1},
        {"metric": "revenue", "ts": ts, "value": 1},
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 422, response.text
    assert _problem_locations(response) == [["body", "points", "1", "ts"]]
    assert "1970-01-01" in response.text and "2200-01-01" in response.text
    catalog = await client.get("/api/v1/metrics", headers=tenant.headers)
    assert catalog.status_code == 200 and catalog.json()["total"] == 0


async def test_upload_of_a_year_one_row_is_refused_and_reads_keep_working(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    csv = "metric,timestamp,value\nrevenue,2026-01-01T00:00:00Z,1\nrevenue,0001-01-01T00:00:00+05:00,1\n"
    files = {"file": ("sales.csv", csv.encode(), "text/csv")}
    response = await client.post("/api/v1/metrics/upload", headers=tenant.headers, files=files)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["details"]["problems"]
    assert [(e["row"], e["column"]) for e in errors] == [(3, "timestamp")]
    for path in ("/api/v1/metrics", "/api/v1/metrics/revenue"):
        read = await client.get(path, headers=tenant.headers)
        assert read.status_code in (200, 404), read.text


async def test_connector_points_outside_the_range_are_refused_by_the_shared_ingest(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    created = await client.post(
        "/api/v1/data-sources", headers=tenant.headers, json={"name": "files", "connector_type": "file"}
    )
    assert created.status_code == 201, created.text
    csv = "date,revenue\n2200-06-01,5\n"
    response = await client.post(
        f"/api/v1/data-sources/{created.json()['id']}/upload",
        headers=tenant.headers,
        files={"file": ("x.csv", csv.encode(), "text/csv")},
    )
    assert response.status_code == 422, response.text
    catalog = await client.get("/api/v1/metrics", headers=tenant.headers)
    assert catalog.json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01", "end": "9999-12-31"},
        {"bucket": "year", "start": "0001-01-01", "end": "9999-12-31", "fill": "zero"},
        {"end": "2200-01-02T00:00:00Z"},
    ],
)
async def test_query_ranges_outside_the_supported_range_are_refused(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, [{"metric": "revenue", "ts": "2026-01-01T00:00:00Z", "value": 1}])
    response = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params=params)
    assert response.status_code == 422, response.text
    assert "1970-01-01" in response.json()["error"]["message"]


async def test_a_wide_query_range_may_be_filled_up_to_the_documented_bucket_count(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, [{"metric": "revenue", "ts": "2026-01-01T00:00:00Z", "value": 1}])
    wide = {"start": "1970-01-01T00:00:00Z", "end": "2200-01-01T00:00:00Z", "fill": "zero"}
    years = await client.get(
        "/api/v1/metrics/revenue", headers=tenant.headers, params={**wide, "bucket": "year"}
    )
    assert years.status_code == 200, years.text
    assert len(years.json()["series"][0]["points"]) == 230
    days = await client.get(
        "/api/v1/metrics/revenue", headers=tenant.headers, params={**wide, "bucket": "day"}
    )
    assert days.status_code == 422, days.text
    assert days.json()["error"]["details"]["problems"][0]["max_buckets"] == 10_000


async def _store_directly(app_engine: AsyncEngine, tenant: TenantContext, metric: str, ts_sql: str) -> None:
    """A row written before the range rule existed: straight into the table, as the app role."""
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        await connection.execute(
            text(
                "insert into business_metrics "
                "(tenant_id, metric, dimensions_key, ts, value, dimensions, source) "
                f"values (:t, :m, '', {ts_sql}, 1, '{{}}'::jsonb, 'legacy')"
            ),
            {"t": str(tenant.tenant_id), "m": metric},
        )


async def test_rows_stored_outside_the_range_never_break_a_read(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    start = _month_ago()
    await _ingest(
        client,
        tenant,
        [
            {"metric": metric, "ts": (start + timedelta(days=i)).isoformat(), "value": (10 + i) * (i % 3 + k)}
            for i in range(30)
            for k, metric in enumerate(("revenue", "ad_spend"), start=1)
        ],
    )
    # Year 1 at +05:00 is 1 BC in UTC; the other far past and far future instants too.
    for ts_sql in (
        "'0001-01-01 00:00:00+05'::timestamptz",
        "'4713-01-01 00:00:00+00 BC'::timestamptz",
        "'20000-01-01 00:00:00+00'::timestamptz",
    ):
        for metric in ("revenue", "ad_spend"):
            await _store_directly(app_engine, tenant, metric, ts_sql)
    headers = tenant.headers
    catalog = await client.get("/api/v1/metrics", headers=headers)
    assert catalog.status_code == 200, catalog.text
    entries = catalog.json()["items"]
    assert [entry["points"] for entry in entries] == [30, 30]
    assert all(entry["first_ts"].startswith(start.date().isoformat()) for entry in entries)
    assert (await client.get("/api/v1/metrics/revenue", headers=headers)).status_code == 200
    raw = await client.get("/api/v1/metrics/revenue", headers=headers, params={"limit": 200})
    assert raw.status_code == 200 and raw.json()["total"] == 30
    for fill in ("none", "zero"):
        rollup = await client.get(
            "/api/v1/metrics/revenue", headers=headers, params={"bucket": "month", "fill": fill}
        )
        assert rollup.status_code == 200, rollup.text
    goal = await create_goal(client, headers, target_value=5000, baseline_value=300, days=120)
    progress = await client.get(f"/api/v1/goals/{goal['id']}/progress", headers=headers)
    assert progress.status_code == 200, progress.text
    forecast = await client.post(
        "/api/v1/forecasts", headers=headers, json={"metric": "revenue", "horizon": 3, "frequency": "day"}
    )
    assert forecast.status_code == 201, forecast.text
    granger = await client.post(
        "/api/v1/evidence/granger",
        headers=headers,
        json={"cause": "ad_spend", "effect": "revenue", "max_lag": 2, "frequency": "D"},
    )
    assert granger.status_code == 200, granger.text
    assert granger.json()["table"]["rows"] == 30


# --------------------------------------------------------------------------- item 6: NUL characters


async def test_nul_in_the_reported_text_fields_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    headers = tenant.headers
    await _ingest(client, tenant, [{"metric": "revenue", "ts": _month_ago().isoformat(), "value": 1}])
    deadline = (date.today() + timedelta(days=120)).isoformat()
    cases: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("post", "/api/v1/tenants", {"name": f"Acme{NUL}", "owner_email": "nul@example.com"}, ["name"]),
        (
            "post",
            "/api/v1/goals",
            {"title": f"a{NUL}b", "metric": "revenue", "target_value": 9, "deadline": deadline},
            ["title"],
        ),
        (
            "post",
            "/api/v1/metrics",
            {"points": [{"metric": "revenue", "ts": "2026-01-01", "value": 1, "dimensions": {"s": NUL}}]},
            ["points", "0", "dimensions", "s"],
        ),
        ("post", "/api/v1/data-sources", {"name": f"x{NUL}", "connector_type": "file"}, ["name"]),
        ("post", "/api/v1/coach/chat", {"message": f"hello{NUL}"}, ["message"]),
        ("put", "/api/v1/metrics/revenue/definition", {"description": f"d{NUL}"}, ["description"]),
        ("patch", "/api/v1/tenants/me", {"name": f"n{NUL}"}, ["name"]),
    ]
    for method, path, body, location in cases:
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status_code == 422, (path, response.text)
        assert _problem_locations(response) == [["body", *location]], path
    # Nothing changed.
    assert (await client.get("/api/v1/goals", headers=headers)).json()["total"] == 0
    assert (await client.get("/api/v1/data-sources", headers=headers)).json()["total"] == 0
    assert (await client.get("/api/v1/metrics/revenue", headers=headers)).json()["total"] == 1
    me = await client.get("/api/v1/tenants/me", headers=headers)
    assert me.json()["name"] == "Test Co"


async def test_nul_is_refused_in_every_operations_query_and_json_body(
    client: httpx.AsyncClient,
) -> None:
    """Walks /openapi.json: one rule, so a route added tomorrow is covered without opting in."""
    tenant = await create_tenant(client)
    spec = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path, operation in _operations(spec):
        url = _concrete(path)
        in_query = await client.request(method, url, headers=tenant.headers, params={"probe": f"a{NUL}"})
        assert in_query.status_code == 422, (method, path, in_query.text)
        assert _problem_locations(in_query) == [["query", "probe"]], (method, path)
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            in_body = await client.request(
                method, url, headers=tenant.headers, json={"probe": [1, {"deep": f"b{NUL}"}]}
            )
            assert in_body.status_code == 422, (method, path, in_body.text)
            assert _problem_locations(in_body) == [["body", "probe", "1", "deep"]], (method, path)
        checked += 1
    assert checked > 50


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = b'{"name": "C:\\\\u0000 folder", "connector_type": "file"}'
    response = await client.post(
        "/api/v1/data-sources",
        headers={**tenant.headers, "content-type": "application/json"},
        content=body,
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "C:\\u0000 folder"


async def test_nul_in_a_utf16_json_body_is_found_too(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = '{"name": "x\\u0000", "connector_type": "file"}'.encode("utf-16")
    response = await client.post(
        "/api/v1/data-sources",
        headers={**tenant.headers, "content-type": "application/json"},
        content=body,
    )
    assert response.status_code == 422, response.text
    assert _problem_locations(response) == [["body", "name"]]


@pytest.mark.parametrize(
    ("csv", "column"),
    [
        ("metric,timestamp,value,store\nrevenue,2026-01-01,1,no\x00rth\n", None),
        ("date,revenue\n2026-01-01\x00,1\n", "date"),
    ],
)
async def test_upload_rows_with_nul_are_refused(
    client: httpx.AsyncClient, csv: str, column: str | None
) -> None:
    tenant = await create_tenant(client)
    files = {"file": ("sales.csv", csv.encode(), "text/csv")}
    response = await client.post("/api/v1/metrics/upload", headers=tenant.headers, files=files)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["details"]["problems"]
    assert [(e["row"], e.get("column")) for e in errors] == [(2, column)]
    assert (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["total"] == 0


# --------------------------------------------------------------------------- item 7: other 500s


async def test_goal_dates_outside_the_supported_range_are_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, [{"metric": "revenue", "ts": _month_ago().isoformat(), "value": 1}])
    body = {"title": "t", "metric": "revenue", "target_value": 9, "baseline_value": 1}
    for dates in (
        {"start_date": "0001-01-01", "deadline": "2030-01-01"},
        {"deadline": "9999-12-31"},
    ):
        response = await client.post("/api/v1/goals", headers=tenant.headers, json={**body, **dates})
        assert response.status_code == 422, response.text
        assert _problem_locations(response) == [["body", next(iter(dates))]]
    assert (await client.get("/api/v1/goals", headers=tenant.headers)).json()["total"] == 0


@pytest.mark.parametrize("params", [{"end": "9999-12-31"}, {"start": "0001-01-01", "end": "0001-01-02"}])
async def test_llm_usage_days_outside_the_supported_range_are_refused(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    tenant = await create_tenant(client)
    response = await client.get("/api/v1/coach/usage", headers=tenant.headers, params=params)
    assert response.status_code == 422, response.text
    assert "1970-01-01" in response.text


@pytest.mark.parametrize("path", ["/api/v1/goals", "/api/v1/metrics", "/api/v1/metrics/revenue"])
async def test_a_huge_offset_is_a_422(client: httpx.AsyncClient, path: str) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, [{"metric": "revenue", "ts": "2026-01-01T00:00:00Z", "value": 1}])
    response = await client.get(path, headers=tenant.headers, params={"offset": 9223372036854775808})
    assert response.status_code == 422, response.text
    assert _problem_locations(response) == [["query", "offset"]]


async def test_patching_a_goal_to_an_unknown_or_foreign_owner_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    other = await create_tenant(client)
    await _ingest(client, tenant, [{"metric": "revenue", "ts": _month_ago().isoformat(), "value": 1}])
    created = await create_goal(client, tenant.headers, target_value=9, baseline_value=1)
    goal_url = f"/api/v1/goals/{created['id']}"
    for owner in (uuid.uuid4(), other.owner_id):
        response = await client.patch(goal_url, headers=tenant.headers, json={"owner_id": str(owner)})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["problems"][0]["field"] == "owner_id"
    assert (await client.get(goal_url, headers=tenant.headers)).json()["owner_id"] == str(tenant.owner_id)


# --------------------------------------------------------------------------- item 9: unparseable bodies

_BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b"{bad", "application/json"),
    ("not UTF-8", b'{"a": "\xff"}', "application/json"),
    ("nested too deep", b"[" * 100_000, "application/json"),
    ("integer too long", b'{"a": 1' + b"0" * 5000 + b"}", "application/json"),
    ("wrong content type", b"hello", "text/plain"),
    ("multipart without boundary", b"abc", "multipart/form-data"),
    (
        "multipart part without name",
        b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n",
        "multipart/form-data; boundary=x",
    ),
]


async def test_every_status_an_unparseable_body_gets_is_documented(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    spec = (await client.get("/openapi.json")).json()
    with_body = [(m, p, op) for m, p, op in _operations(spec) if "requestBody" in op]
    assert len(with_body) > 20
    for method, path, operation in with_body:
        for label, content, content_type in _BAD_BODIES:
            response = await client.request(
                method,
                _concrete(path),
                headers={**tenant.headers, "content-type": content_type},
                content=content,
            )
            assert response.status_code < 500, (method, path, label, response.text)
            assert str(response.status_code) in operation["responses"], (method, path, label, response.text)
            if response.status_code == 422:
                assert response.json()["error"]["code"] == "validation_failed"
            assert response.status_code != 400, (method, path, label, response.text)
