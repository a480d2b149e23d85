"""Generic REST/JSON: auth, every pagination style, incremental watermark, retries, 429, 4xx, clear errors."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from backend.config import Settings
from backend.services.connectors.http import ConnectorError, ConnectorHttp
from backend.utils.database import Database
from tests.factories import create_tenant
from tests.services.connectors.fakes import FakeState, Injected, requests_to, rest_app, serve
from tests.services.connectors.support import Worker, create_source, stored_points, sync_now

RECORDS = [
    {"day": "2026-05-01T00:00:00Z", "sales": 120.0, "visits": 30, "store": "north"},
    {"day": "2026-05-02T00:00:00Z", "sales": 80.5, "visits": 22, "store": "north"},
    {"day": "2026-05-03T00:00:00Z", "sales": 99.0, "visits": 25, "store": "south"},
]
MAPPINGS = {
    "timestamp": "day",
    "values": {"revenue": "sales", "visits": "visits"},
    "dimensions": {"store": "store"},
}


def _expected() -> dict[tuple[str, str, str], float]:
    out = {}
    for record in RECORDS:
        ts = record["day"].replace("Z", "+00:00")
        dims = f'{{"store":"{record["store"]}"}}'
        out[("revenue", ts, dims)] = float(record["sales"])
        out[("visits", ts, dims)] = float(record["visits"])
    return out


async def _create_rest_source(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    *,
    record_path: str = "data.items",
    credentials: dict[str, str] | None = None,
    **config: Any,
) -> dict[str, Any]:
    """A REST/JSON source reading ``url`` with :data:`MAPPINGS` (``config`` adds settings)."""
    body: dict[str, Any] = {"url": url, "record_path": record_path, "mappings": MAPPINGS, **config}
    secrets = {} if credentials is None else {"credentials": credentials}
    return await create_source(api, headers, connector_type="rest_json", config=body, **secrets)


async def _sync_pages(
    api: httpx.AsyncClient,
    worker: Worker,
    headers: dict[str, str],
    state: FakeState,
    records: list[dict[str, Any]],
) -> tuple[dict[str, Any], str]:
    """One sync of a paged REST source serving ``records``: the run and the server's base URL."""
    with serve(rest_app(state, records)) as base:
        source = await _create_rest_source(api, headers, base + "/page")
        return await sync_now(api, worker, headers, source["id"]), base


@pytest.mark.parametrize(
    ("path", "record_path", "pagination"),
    [
        ("/page", "data.items", {"type": "page", "page_size": 2}),
        ("/offset", "results", {"type": "offset", "page_size": 2, "size_param": "limit"}),
        ("/cursor", "items", {"type": "cursor", "cursor_path": "meta.next"}),
        ("/link", "", {"type": "link"}),
    ],
)
async def test_rest_json_sync_reads_every_page_of_each_pagination_style(
    api: httpx.AsyncClient,
    worker: Worker,
    database: Database,
    path: str,
    record_path: str,
    pagination: dict[str, Any],
) -> None:
    tenant = await create_tenant(api)
    state = FakeState()
    with serve(rest_app(state, RECORDS)) as base:
        source = await _create_rest_source(
            api, tenant.headers, base + path, record_path=record_path, pagination=pagination
        )
        run = await sync_now(api, worker, tenant.headers, source["id"])
    assert run["status"] == "succeeded", run
    assert run["records_read"] == 3
    assert len(requests_to(state, path)) >= 2
    assert await stored_points(database, tenant.tenant_id) == _expected()


@pytest.mark.parametrize(
    ("auth", "credentials", "header", "value"),
    [
        ("bearer", {"token": "tok-123"}, "authorization", "Bearer tok-123"),
        ("api_key_header", {"api_key": "key-456"}, "x-api-key", "key-456"),
        (
            "basic",
            {"username": "ann", "password": "pw"},
            "authorization",
            "Basic " + base64.b64encode(b"ann:pw").decode(),
        ),
    ],
)
async def test_rest_json_sends_the_configured_auth(
    api: httpx.AsyncClient, worker: Worker, auth: str, credentials: dict[str, str], header: str, value: str
) -> None:
    tenant = await create_tenant(api)
    state = FakeState()
    app = rest_app(state, RECORDS)
    app.state.auth["expected"] = (header, value)
    with serve(app) as base:
        source = await _create_rest_source(
            api, tenant.headers, base + "/page", auth=auth, credentials=credentials
        )
        run = await sync_now(api, worker, tenant.headers, source["id"])
    assert run["status"] == "succeeded", run
    assert requests_to(state, "/page")[0]["headers"][header] == value


async def test_incremental_rest_sync_sends_the_watermark_and_reads_only_newer_records(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    records = [dict(r) for r in RECORDS[:2]]
    state = FakeState()
    with serve(rest_app(state, records)) as base:
        source = await _create_rest_source(api, tenant.headers, base + "/page", incremental_param="since")
        first = await sync_now(api, worker, tenant.headers, source["id"])
        records.append(dict(RECORDS[2]))
        second = await sync_now(api, worker, tenant.headers, source["id"])
    assert first["cursor_after"] == {"watermark": "2026-05-02T00:00:00+00:00"}
    assert requests_to(state, "/page")[-1]["params"]["since"] == "2026-05-02T00:00:00+00:00"
    assert second["records_read"] == 1
    assert second["cursor_after"] == {"watermark": "2026-05-03T00:00:00+00:00"}
    assert await stored_points(database, tenant.tenant_id) == _expected()


async def test_server_errors_are_retried_and_the_sync_succeeds(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    state = FakeState(failures=[Injected(503), Injected(502), Injected(429, retry_after="0")])
    run, _ = await _sync_pages(api, worker, tenant.headers, state, RECORDS)
    assert run["status"] == "succeeded", run
    assert run["attempts"] == 1
    assert len(requests_to(state, "/page")) == 4
    assert await stored_points(database, tenant.tenant_id) == _expected()


async def test_persistent_server_errors_fail_the_sync_with_a_clear_error_after_job_retries(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    tenant = await create_tenant(api)
    state = FakeState(failures=[Injected(500)] * 50)
    run, base = await _sync_pages(api, worker, tenant.headers, state, RECORDS)
    assert run["status"] == "failed"
    assert run["attempts"] == 2  # CONNECTOR_SYNC_MAX_ATTEMPTS in these tests
    assert len(state.requests) == 2 * 4  # each attempt: 1 try + 3 retries
    assert run["error"]["code"] == "upstream_error"
    assert run["error"]["message"] == f"{base}/page answered 500 (server error) after 4 attempts"


async def test_unmappable_records_fail_the_sync_and_write_nothing(
    api: httpx.AsyncClient, worker: Worker, database: Database
) -> None:
    tenant = await create_tenant(api)
    bad = [*RECORDS, {"day": "not a date", "sales": 1, "visits": 1, "store": "x"}]
    run, _ = await _sync_pages(api, worker, tenant.headers, FakeState(), bad)
    assert run["status"] == "failed" and run["attempts"] == 1
    assert run["error"]["code"] == "invalid_data"
    assert run["error"]["details"]["problems"] == [
        {
            "code": "unmappable_record",
            "record": 4,
            "message": "timestamp 'not a date' is not ISO 8601 or epoch seconds",
        }
    ]
    assert await stored_points(database, tenant.tenant_id) == {}


async def test_retry_after_is_honoured_and_4xx_is_not_retried(loopback_settings: Settings) -> None:
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    state = FakeState(failures=[Injected(429, retry_after="7"), Injected(404)])
    with serve(rest_app(state, RECORDS)) as base:
        async with ConnectorHttp(loopback_settings.connectors, sleep=record_sleep) as http:
            with pytest.raises(ConnectorError) as raised:
                await http.get(base + "/page", params={"api_key": "secret-in-query"})
    assert waits == [7.0]  # the server's Retry-After, not our backoff
    assert len(state.requests) == 2  # the 404 was not retried
    error = raised.value
    assert (error.code, error.retryable, error.context["status"]) == ("upstream_rejected", False, 404)
    assert "secret-in-query" not in error.message and "secret-in-query" not in str(error.context)


async def test_backoff_grows_exponentially_with_jitter_on_network_errors(loopback_settings: Settings) -> None:
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = loopback_settings.connectors.model_copy(
        update={"http_backoff_base_seconds": 1.0, "http_backoff_max_seconds": 100.0, "http_max_retries": 3}
    )
    async with ConnectorHttp(settings, sleep=record_sleep) as http:
        with pytest.raises(ConnectorError) as raised:
            await http.get("http://127.0.0.1:9/unreachable")  # discard port: connection refused
    assert raised.value.code == "upstream_unreachable" and raised.value.retryable
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 2**attempt / 2 <= wait <= 2**attempt


async def test_private_addresses_are_refused_unless_allowed(loopback_settings: Settings) -> None:
    strict = loopback_settings.connectors.model_copy(update={"allow_private_networks": False})
    async with ConnectorHttp(strict) as http:
        with pytest.raises(ConnectorError) as raised:
            await http.get("http://127.0.0.1:9/anything")
    assert raised.value.code == "address_not_allowed"
