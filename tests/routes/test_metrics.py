"""Metrics through the API: idempotent all-or-nothing ingest, uploads, rollups, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from backend.schemas.metrics import MetricQueryRead
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics import repository as metrics_repository
from backend.services.metrics import service as metrics_service
from backend.utils.database import Database
from tests.factories import (
    TenantContext,
    create_tenant,
    create_tenant_in_zone,
    invite_and_activate,
    problem_context,
    problem_locations,
)


def _points(
    metric: str, values: list[float], start: datetime, step: timedelta, **dimensions: str
) -> list[dict]:
    return [
        {"metric": metric, "ts": (start + i * step).isoformat(), "value": v, "dimensions": dimensions}
        for i, v in enumerate(values)
    ]


async def _ingest(client: httpx.AsyncClient, tenant: TenantContext, points: list[dict]) -> dict:
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text
    return response.json()


async def _raw_count(client: httpx.AsyncClient, tenant: TenantContext, metric: str) -> int:
    response = await client.get(f"/api/v1/metrics/{metric}", headers=tenant.headers)
    return int(response.json()["total"]) if response.status_code == 200 else 0


@pytest.fixture(params=["json", "staged"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a batch reaches PostgreSQL: one JSON text (API batches) or COPY into a staging
    table (big writes, from ``COPY_MIN_POINTS`` points); every batch takes the second here."""
    if request.param == "staged":
        monkeypatch.setattr(metrics_repository, "COPY_MIN_POINTS", 1)
    return str(request.param)


@pytest.mark.usefixtures("write_path")
async def test_same_batch_twice_is_idempotent(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    points = _points(
        "revenue", [10, 20, 30], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1), channel="ads"
    )
    first = await _ingest(client, tenant, points)
    second = await _ingest(client, tenant, points)
    assert (first["inserted"], first["updated"]) == (3, 0)
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 0, 3)
    assert await _raw_count(client, tenant, "revenue") == 3
    changed = await _ingest(client, tenant, [{**points[0], "value": 11}])
    assert (changed["inserted"], changed["updated"]) == (0, 1)
    raw = (await client.get("/api/v1/metrics/revenue", headers=tenant.headers)).json()
    assert [p["value"] for p in raw["series"][0]["points"]] == [11, 20, 30]


@pytest.mark.usefixtures("write_path")
async def test_dimensions_distinguish_points_and_duplicates_in_batch_collapse(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    ts = "2026-01-01T00:00:00+00:00"
    result = await _ingest(
        client,
        tenant,
        [
            {"metric": "orders", "ts": ts, "value": 1, "dimensions": {"store": "north"}},
            {"metric": "orders", "ts": ts, "value": 2, "dimensions": {"store": "south"}},
            {"metric": "orders", "ts": ts, "value": 3, "dimensions": {"store": "north"}},
        ],
    )
    assert (result["inserted"], result["duplicates_in_batch"]) == (2, 1)
    raw = (await client.get("/api/v1/metrics/orders", headers=tenant.headers)).json()
    assert sorted(p["value"] for p in raw["series"][0]["points"]) == [2, 3]


@pytest.mark.usefixtures("write_path")
async def test_naive_timestamps_are_read_in_the_tenant_zone_and_repeats_match_by_instant(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant_in_zone(client, "America/New_York")
    result = await _ingest(
        client,
        tenant,
        [
            {"metric": "walk_ins", "ts": "2026-03-08T01:30:00", "value": 1},  # EST: 06:30Z
            {"metric": "walk_ins", "ts": "2026-03-08T03:30:00", "value": 2},  # EDT: 07:30Z
            {"metric": "walk_ins", "ts": "2026-03-08T06:30:00Z", "value": 3},  # the first instant again
            {"metric": "walk_ins", "ts": "2026-03-08T09:15:00.000250+02:00", "value": 0.1},
        ],
    )
    assert (result["received"], result["inserted"], result["duplicates_in_batch"]) == (4, 3, 1)
    raw = (await client.get("/api/v1/metrics/walk_ins", headers=tenant.headers)).json()
    assert [(p["ts"], p["value"]) for p in raw["series"][0]["points"]] == [
        ("2026-03-08T06:30:00Z", 3),
        ("2026-03-08T07:15:00.000250Z", 0.1),
        ("2026-03-08T07:30:00Z", 2),
    ]


async def test_one_bad_point_rejects_the_batch_and_lists_each_problem(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    good = _points("revenue", [1, 2], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1))
    bad = [
        *good,
        {"metric": "Bad Name", "ts": "2026-01-05T00:00:00Z", "value": 1},
        {"metric": "revenue", "ts": "not a time", "value": 1},
        {"metric": "revenue", "ts": "2026-01-06T00:00:00Z", "value": 1, "dimensions": {"Store": "x"}},
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": bad})
    assert response.status_code == 422
    indexes = {tuple(loc[:3]) for loc in problem_locations(response.json()["error"])}
    assert indexes == {("body", "points", "2"), ("body", "points", "3"), ("body", "points", "4")}
    assert await _raw_count(client, tenant, "revenue") == 0
    assert (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["total"] == 0


async def test_batch_limit_is_enforced(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    points = _points("clicks", [1.0] * 10_001, datetime(2026, 1, 1, tzinfo=UTC), timedelta(minutes=1))
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 422


async def test_each_aggregation_on_a_known_series(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    start = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday
    await _ingest(client, tenant, _points("sales", [4, 1, 7, 2], start, timedelta(hours=6)))
    expected = {"sum": 14, "avg": 3.5, "min": 1, "max": 7, "last": 2, "count": 4}
    for agg, value in expected.items():
        response = await client.get(
            "/api/v1/metrics/sales", headers=tenant.headers, params={"bucket": "day", "agg": agg, "tz": "UTC"}
        )
        assert response.status_code == 200, response.text
        points = response.json()["series"][0]["points"]
        assert [(p["value"], p["count"]) for p in points] == [(value, 4)], agg


async def test_day_buckets_in_new_york_across_dst(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    # Hourly points from 2026-03-07 05:00Z (local midnight EST) for 72 hours;
    # DST starts 2026-03-08 02:00 local.
    await _ingest(
        client, tenant, _points("visits", [1.0] * 72, datetime(2026, 3, 7, 5, tzinfo=UTC), timedelta(hours=1))
    )
    response = await client.get(
        "/api/v1/metrics/visits",
        headers=tenant.headers,
        params={"bucket": "day", "agg": "sum", "tz": "America/New_York"},
    )
    days = response.json()["series"][0]["points"]
    # Local days hold 24, 23 (spring forward) and 24 hours; the last hour falls on 2026-03-10 local.
    assert [p["value"] for p in days] == [24, 23, 24, 1]
    assert [p["ts"] for p in days[:2]] == ["2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z"]
    assert days[2]["ts"] == "2026-03-09T04:00:00Z"


async def test_gap_filling_grouping_and_dimension_filters(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    day = timedelta(days=1)
    await _ingest(
        client, tenant, _points("spend", [5, 0, 7], datetime(2026, 4, 1, tzinfo=UTC), 2 * day, channel="ads")
    )
    await _ingest(
        client, tenant, _points("spend", [1], datetime(2026, 4, 2, tzinfo=UTC), day, channel="email")
    )
    params = {"bucket": "day", "tz": "UTC", "start": "2026-04-01T00:00:00Z", "end": "2026-04-06T00:00:00Z"}
    zero = await client.get(
        "/api/v1/metrics/spend",
        headers=tenant.headers,
        params={**params, "fill": "zero", "dim": "channel:ads"},
    )
    assert [p["value"] for p in zero.json()["series"][0]["points"]] == [5, 0, 0, 0, 7]
    assert [p["filled"] for p in zero.json()["series"][0]["points"]] == [False, True, False, True, False]
    grouped = await client.get(
        "/api/v1/metrics/spend", headers=tenant.headers, params={**params, "group_by": "channel"}
    )
    by_group = {s["group"]: [p["value"] for p in s["points"]] for s in grouped.json()["series"]}
    assert by_group == {"ads": [5, 0, 7], "email": [1]}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"bucket": "day", "tz": "UTC"},
        {"bucket": "day", "tz": "America/New_York", "start": "2026-04-01T00:00:00", "fill": "previous"},
        {"bucket": "6 hours", "group_by": "channel", "end": "2026-04-09T00:00:00+02:00"},
    ],
)
async def test_query_bodies_are_exactly_what_the_documented_model_writes(
    client: httpx.AsyncClient, params: dict
) -> None:
    """The query route writes its JSON without the response model; it must not drift from it."""
    tenant = await create_tenant(client)
    start = datetime(2026, 4, 1, 3, 30, 0, 250_000, tzinfo=UTC)
    await _ingest(client, tenant, _points("spend", [5, 0.1, 7e20], start, timedelta(days=2), channel="ads"))
    await _ingest(client, tenant, _points("spend", [1.5], start, timedelta(days=1)))
    response = await client.get("/api/v1/metrics/spend", headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["series"] and body["series"][0]["points"]
    assert MetricQueryRead.model_validate(body).model_dump(mode="json") == body
    assert response.text == MetricQueryRead.model_validate(body).model_dump_json()


@pytest.mark.usefixtures("write_path")
async def test_catalog_declarations_and_inferred_aggregation(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _ingest(
        client, tenant, _points("stock_level", [10, 8], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1))
    )
    declared = await client.put(
        "/api/v1/metrics/revenue/definition",
        headers=tenant.headers,
        json={"unit": "USD", "description": "Net sales"},
    )
    assert declared.status_code == 200 and declared.json()["points"] == 0
    catalog = {
        m["name"]: m for m in (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["items"]
    }
    assert catalog["stock_level"]["aggregation"] == "last" and catalog["stock_level"]["points"] == 2
    assert catalog["revenue"]["aggregation"] == "sum" and catalog["revenue"]["unit"] == "USD"


async def test_csv_upload_dry_run_then_commit(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    csv = "date,revenue,orders\n2026-01-01,100,4\n2026-01-02,120,5\n"
    files = {"file": ("sales.csv", csv.encode(), "text/csv")}
    dry = await client.post(
        "/api/v1/metrics/upload", headers=tenant.headers, files=files, data={"dry_run": "true"}
    )
    assert dry.status_code == 200 and dry.json()["points"] == 4 and dry.json()["result"] is None
    assert await _raw_count(client, tenant, "revenue") == 0
    real = await client.post("/api/v1/metrics/upload", headers=tenant.headers, files=files)
    assert real.json()["result"]["inserted"] == 4
    assert await _raw_count(client, tenant, "orders") == 2


@pytest.mark.usefixtures("write_path")
async def test_big_writes_go_in_chunks_with_repeats_across_chunks_counted_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_repository, "UPSERT_CHUNK_POINTS", 2)
    tenant = await create_tenant(client)
    day = timedelta(days=1)
    points = _points("visits", [1, 2, 3], datetime(2026, 5, 1, tzinfo=UTC), day)
    points += _points("visits", [9, 4], datetime(2026, 5, 1, tzinfo=UTC), 3 * day)  # 9 repeats day 1
    first = await _ingest(client, tenant, points)
    assert (first["received"], first["inserted"], first["updated"], first["duplicates_in_batch"]) == (
        5,
        4,
        0,
        1,
    )
    again = await _ingest(client, tenant, points)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)
    raw = (await client.get("/api/v1/metrics/visits", headers=tenant.headers)).json()
    assert [p["value"] for p in raw["series"][0]["points"]] == [9, 2, 3, 4]


async def test_an_upload_over_the_point_limit_is_refused_whole(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_service, "MAX_UPLOAD_POINTS", 5)
    tenant = await create_tenant(client)
    csv = "date,revenue,orders\n2026-01-01,100,4\n2026-01-02,120,5\n2026-01-03,90,3\n"
    files = {"file": ("sales.csv", csv.encode(), "text/csv")}
    response = await client.post("/api/v1/metrics/upload", headers=tenant.headers, files=files)
    assert response.status_code == 422, response.text
    assert problem_context(response.json()["error"]) == {"max_points": 5}
    assert await _raw_count(client, tenant, "revenue") == 0


async def test_csv_upload_with_bad_rows_reports_them_and_writes_nothing(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    csv = "metric,timestamp,value\nrevenue,2026-01-01,10\nrevenue,2026-13-01,10\nrevenue,2026-01-03,abc\n"
    response = await client.post(
        "/api/v1/metrics/upload",
        headers=tenant.headers,
        files={"file": ("bad.csv", csv.encode(), "text/csv")},
    )
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["problems"]
    assert [(e["row"], e["column"]) for e in errors] == [(3, "timestamp"), (4, "value")]
    assert await _raw_count(client, tenant, "revenue") == 0


async def test_viewer_reads_but_cannot_ingest_and_only_admin_deletes(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _ingest(
        client, tenant, _points("revenue", [1, 2, 3], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1))
    )
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    _, analyst = await invite_and_activate(client, tenant, role="analyst")
    assert (await client.get("/api/v1/metrics/revenue", headers=viewer)).status_code == 200
    points = _points("revenue", [9], datetime(2026, 2, 1, tzinfo=UTC), timedelta(days=1))
    assert (await client.post("/api/v1/metrics", headers=viewer, json={"points": points})).status_code == 403
    assert (await client.delete("/api/v1/metrics/revenue", headers=analyst)).status_code == 403
    ranged = await client.delete(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-03T00:00:00Z"},
    )
    assert ranged.json()["deleted_points"] == 1 and ranged.json()["definition_deleted"] is False
    whole = await client.delete("/api/v1/metrics/revenue", headers=tenant.headers)
    assert whole.json()["deleted_points"] == 2
    assert (await client.get("/api/v1/metrics/revenue", headers=tenant.headers)).status_code == 404


@pytest.mark.usefixtures("write_path")
async def test_metrics_never_cross_tenants(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    await _ingest(client, b, _points("revenue", [100], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1)))
    assert (await client.get("/api/v1/metrics", headers=a.headers)).json()["total"] == 0
    assert (await client.get("/api/v1/metrics/revenue", headers=a.headers)).status_code == 404
    assert (await client.delete("/api/v1/metrics/revenue", headers=a.headers)).status_code == 404
    # A writing the same metric name creates A's own series and leaves B's alone.
    await _ingest(client, a, _points("revenue", [1], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1)))
    b_points = (await client.get("/api/v1/metrics/revenue", headers=b.headers)).json()["series"][0]["points"]
    assert [p["value"] for p in b_points] == [100]


@pytest.mark.parametrize(
    "params",
    [
        {"bucket": "fortnight"},
        {"tz": "Mars/Base"},
        {"dim": "nocolon"},
        {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    ],
)
async def test_query_validation_errors(client: httpx.AsyncClient, params: dict) -> None:
    tenant = await create_tenant(client)
    await _ingest(
        client, tenant, _points("revenue", [1], datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1))
    )
    response = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


# --------------------------------------------------------------------------- sources and meaning
DAY = timedelta(days=1)
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


async def _ingest_from(
    client: httpx.AsyncClient, tenant: TenantContext, source: str, points: list[dict]
) -> httpx.Response:
    return await client.post(
        "/api/v1/metrics", headers=tenant.headers, json={"points": points, "source": source}
    )


async def _rollup(client: httpx.AsyncClient, tenant: TenantContext, metric: str, **params: object) -> dict:
    response = await client.get(
        f"/api/v1/metrics/{metric}",
        headers=tenant.headers,
        params={"bucket": "day", "tz": "UTC", **params},
    )
    assert response.status_code == 200, response.text
    body: dict = response.json()
    assert MetricQueryRead.model_validate(body).model_dump(mode="json") == body
    return body


def _values(body: dict) -> list[float]:
    return [p["value"] for s in body["series"] for p in s["points"]]


async def _definition(client: httpx.AsyncClient, tenant: TenantContext, metric: str) -> dict:
    catalog = (await client.get("/api/v1/metrics", headers=tenant.headers)).json()["items"]
    return next(m for m in catalog if m["name"] == metric)


@pytest.mark.usefixtures("write_path")
async def test_a_second_source_is_refused_with_409_naming_the_fix_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, _points("revenue", [100, 200], MARCH, DAY))
    assert (await _definition(client, tenant, "revenue"))["sources"] == {
        "rule": "priority",
        "priority": ["manual"],
    }
    refused = await _ingest_from(
        client,
        tenant,
        "pos_export",
        [*_points("revenue", [1, 2], MARCH, DAY), *_points("walk_ins", [5], MARCH, DAY)],
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "source_conflict"
    assert "'revenue'" in error["message"] and "'manual'" in error["message"]
    assert "PUT /api/v1/metrics/revenue" in error["message"] and "another metric name" in error["message"]
    assert (
        error["details"]["problems"][0]["existing_sources"] == ["manual"]
        and error["details"]["problems"][0]["source"] == "pos_export"
    )
    # All or nothing: the batch's other metric was not written either, and revenue is as it was.
    assert await _raw_count(client, tenant, "walk_ins") == 0
    assert _values(await _rollup(client, tenant, "revenue")) == [100, 200]

    declared = await client.put(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        json={"sources": {"rule": "priority", "priority": ["manual", "pos_export"]}},
    )
    assert declared.status_code == 200, declared.text
    first = await _ingest_from(client, tenant, "pos_export", _points("revenue", [1, 2], MARCH, DAY))
    again = await _ingest_from(client, tenant, "pos_export", _points("revenue", [1, 2], MARCH, DAY))
    assert first.status_code == 200 and first.json()["inserted"] == 2
    assert (again.json()["inserted"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 2)


async def test_priority_reads_the_first_source_with_data_in_the_window_and_source_reads_another(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, _points("revenue", [100, 200, 300], MARCH, DAY))
    await client.put(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        json={"sources": {"rule": "priority", "priority": ["stripe", "manual"]}},
    )
    # stripe only has the first two days.
    ok = await _ingest_from(client, tenant, "stripe", _points("revenue", [10, 20], MARCH, DAY))
    assert ok.status_code == 200, ok.text
    whole = await _rollup(client, tenant, "revenue")
    assert _values(whole) == [10, 20]
    assert whole["sources_used"] == ["stripe"] and whole["sources_available"] == ["manual", "stripe"]
    # A window where stripe has nothing: the next source in the list answers alone.
    late = await _rollup(client, tenant, "revenue", start=(MARCH + 2 * DAY).isoformat())
    assert _values(late) == [300] and late["sources_used"] == ["manual"]
    manual = await _rollup(client, tenant, "revenue", source="manual")
    assert _values(manual) == [100, 200, 300] and manual["sources_used"] == ["manual"]
    raw = (
        await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params={"source": "manual"})
    ).json()
    assert raw["total"] == 3 and {p["source"] for p in raw["series"][0]["points"]} == {"manual"}


async def test_additive_sums_the_listed_sources_per_instant_before_aggregating(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, _points("revenue", [100, 200], MARCH, DAY))
    await client.put(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        json={"sources": {"rule": "additive", "priority": ["manual", "web_shop"]}},
    )
    await _ingest_from(client, tenant, "web_shop", _points("revenue", [1, 2], MARCH, DAY))
    daily = await _rollup(client, tenant, "revenue")
    assert _values(daily) == [101, 202] and daily["sources_used"] == ["manual", "web_shop"]
    # The average of the two days' combined values, not of the four source points.
    monthly = await _rollup(client, tenant, "revenue", bucket="month", agg="avg")
    assert _values(monthly) == [151.5] and monthly["series"][0]["points"][0]["count"] == 4


async def test_definition_meaning_is_stored_exposed_and_kept_when_left_out(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = {
        "unit": "dollars",
        "currency": "USD",
        "aggregation": "sum",
        "favourable_direction": "up",
        "non_negative": True,
        "display_format": "currency",
        "sources": {
            "rule": "priority",
            "priority": ["manual", "data_source:6f1c1f3a-0b6c-4f3e-9c1a-2f6f1c1f3a10"],
        },
    }
    declared = await client.put("/api/v1/metrics/revenue", headers=tenant.headers, json=body)
    assert declared.status_code == 200, declared.text
    partial = await client.put("/api/v1/metrics/revenue", headers=tenant.headers, json={"description": "Net"})
    assert partial.status_code == 200
    stored = await _definition(client, tenant, "revenue")
    assert {k: stored[k] for k in body} == body and stored["description"] == "Net"
    # The old path still declares.
    legacy = await client.put(
        "/api/v1/metrics/revenue/definition", headers=tenant.headers, json={"display_format": "integer"}
    )
    assert legacy.status_code == 200 and legacy.json()["display_format"] == "integer"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "usd"),
        ("currency", "DOLLARS"),
        ("favourable_direction", "sideways"),
        ("display_format", "money"),
        ("non_negative", "maybe"),
        ("aggregation", "latest"),
        ("sources", {"rule": "priority", "priority": ["Not A Source"]}),
        ("sources", {"rule": "priority", "priority": ["manual", "manual"]}),
        ("sources", {"rule": "sum", "priority": ["manual"]}),
        ("colour", "blue"),
    ],
)
async def test_bad_definition_values_are_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    tenant = await create_tenant(client)
    await client.put("/api/v1/metrics/revenue", headers=tenant.headers, json={"currency": "EUR"})
    before = await _definition(client, tenant, "revenue")
    response = await client.put("/api/v1/metrics/revenue", headers=tenant.headers, json={field: value})
    assert response.status_code == 422, response.text
    locations = problem_locations(response.json()["error"])
    assert any(field in location for location in locations), locations
    assert await _definition(client, tenant, "revenue") == before


async def test_reader_definition_is_typed_with_the_declared_meaning(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(client)
    await client.put(
        "/api/v1/metrics/churn_rate",
        headers=tenant.headers,
        json={"favourable_direction": "down", "non_negative": True, "display_format": "percent"},
    )
    async with database.tenant_session(tenant.tenant_id) as session:
        info = await metrics_reader.definition(session, "churn_rate")
        missing = await metrics_reader.definition(session, "nothing_here")
    assert missing is None and info is not None
    assert (info.favourable_direction, info.non_negative, info.display_format) == ("down", True, "percent")
    assert (info.aggregation, info.source_rule, info.source_priority) == ("avg", "priority", ())


async def test_rollups_and_raw_points_page_with_a_total_and_a_documented_maximum(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, _points("visits", list(range(10)), MARCH, DAY))
    page = await _rollup(client, tenant, "visits", limit=3, offset=4)
    assert (page["total"], page["limit"], page["offset"]) == (10, 3, 4) and _values(page) == [4, 5, 6]
    past = await _rollup(client, tenant, "visits", limit=3, offset=20)
    assert past["total"] == 10 and _values(past) == []
    filled = await _rollup(
        client, tenant, "visits", fill="zero", limit=4, offset=8, end=(MARCH + 12 * DAY).isoformat()
    )
    assert filled["total"] == 12 and _values(filled) == [8, 9, 0, 0]
    whole = await _rollup(client, tenant, "visits")
    assert whole["limit"] == 10_000 and whole["total"] == 10 and len(_values(whole)) == 10
    raw = (await client.get("/api/v1/metrics/visits", headers=tenant.headers, params={"limit": 3})).json()
    assert raw["total"] == 10 and len(raw["series"][0]["points"]) == 3
    for params in ({"bucket": "day", "limit": 10_001}, {"limit": 10_001}):
        too_many = await client.get("/api/v1/metrics/visits", headers=tenant.headers, params=params)
        assert too_many.status_code == 422
        assert problem_context(too_many.json()["error"]) == {"field": "limit", "maximum": 10_000}
        assert "10,000" in too_many.json()["error"]["message"]


async def test_the_issue_scenario_day_reads_the_source_of_truth_not_the_sum_of_four_sources(
    client: httpx.AsyncClient,
) -> None:
    """Issue 15: 2026-12-01 read 8,224.14 = POS 5,183.46 + Stripe 1,520.34 + Shopify 411.70 + 1,108.64."""
    tenant = await create_tenant(client)
    day = datetime(2026, 12, 1, tzinfo=UTC)
    feeds = {"manual": 5183.46, "stripe": 1520.34, "shopify": 411.70, "upload": 1108.64}
    await _ingest(client, tenant, _points("revenue", [feeds["manual"]], day, DAY))
    for source, value in list(feeds.items())[1:]:
        refused = await _ingest_from(client, tenant, source, _points("revenue", [value], day, DAY))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "source_conflict"
    await client.put(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        json={"sources": {"rule": "priority", "priority": list(feeds)}},
    )
    for source, value in list(feeds.items())[1:]:
        assert (
            await _ingest_from(client, tenant, source, _points("revenue", [value], day, DAY))
        ).status_code == 200
    assert _values(await _rollup(client, tenant, "revenue")) == [5183.46]
    await client.put(
        "/api/v1/metrics/revenue",
        headers=tenant.headers,
        json={"sources": {"rule": "additive", "priority": list(feeds)}},
    )
    assert [round(v, 2) for v in _values(await _rollup(client, tenant, "revenue"))] == [8224.14]
