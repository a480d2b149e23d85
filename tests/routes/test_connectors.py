"""Connectors API: catalog, data-source CRUD, masking, tests, sync requests, uploads, schedules, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from backend.config import Settings
from backend.services.connectors.tasks import dispatch_due_syncs
from backend.services.queue import JobRuntime
from backend.utils.database import Database
from tests.factories import create_tenant, invite_and_activate
from tests.jobs.support import shared_compute
from tests.services.connectors.fakes import STRIPE_KEY, FakeState, serve, stripe_app
from tests.services.connectors.fixtures import api, database, loopback_app, loopback_settings
from tests.services.connectors.support import create_source, start_sync, stored_points

# The connector fixtures (an API whose connectors may reach the loopback fakes).
__all__ = ["api", "database", "loopback_app", "loopback_settings"]

STRIPE = {"connector_type": "stripe", "config": {}, "credentials": {"secret_key": STRIPE_KEY}}


async def test_catalog_lists_every_connector_type_with_json_schemas(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    body = (await api.get("/api/v1/connectors", headers=tenant.headers)).json()
    by_name = {item["name"]: item for item in body["items"]}
    assert set(by_name) == {"file", "google_sheets", "rest_json", "stripe", "shopify", "postgres"}
    assert by_name["stripe"]["credentials_schema"]["required"] == ["secret_key"]
    assert "mappings" in by_name["rest_json"]["config_schema"]["properties"]
    assert by_name["file"]["syncs"] is False and by_name["file"]["credentials_schema"] is None
    assert (body["total"], body["offset"]) == (6, 0)
    last = (await api.get("/api/v1/connectors?offset=5", headers=tenant.headers)).json()
    assert [item["name"] for item in last["items"]] == [item["name"] for item in body["items"]][5:]


async def test_data_source_crud_validates_config_and_masks_credentials(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    bad = await api.post(
        "/api/v1/data-sources",
        headers=tenant.headers,
        json={"name": "x", "connector_type": "rest_json", "config": {"url": "ftp://nope"}},
    )
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["error"]["details"]["problems"]} >= {"config.mappings"}
    unknown = await api.post(
        "/api/v1/data-sources", headers=tenant.headers, json={"name": "y", "connector_type": "sap"}
    )
    assert unknown.status_code == 422

    source = await create_source(api, tenant.headers, name="Stripe", schedule="daily", **STRIPE)
    assert source["credentials"] == {"secret_key": "********"}
    assert source["next_sync_at"] is not None
    duplicate = await api.post(
        "/api/v1/data-sources", headers=tenant.headers, json={"name": "Stripe", **STRIPE}
    )
    assert duplicate.status_code == 409

    patched = await api.patch(
        f"/api/v1/data-sources/{source['id']}",
        headers=tenant.headers,
        json={"schedule": None, "status": "paused"},
    )
    assert patched.status_code == 200
    assert (patched.json()["schedule"], patched.json()["status"], patched.json()["next_sync_at"]) == (
        None,
        "paused",
        None,
    )
    bad_cron = await api.patch(
        f"/api/v1/data-sources/{source['id']}", headers=tenant.headers, json={"schedule": "often"}
    )
    assert bad_cron.status_code == 422

    assert (
        await api.delete(f"/api/v1/data-sources/{source['id']}", headers=tenant.headers)
    ).status_code == 204
    assert (await api.get(f"/api/v1/data-sources/{source['id']}", headers=tenant.headers)).status_code == 404


async def test_other_tenants_sources_and_syncs_are_not_found(api: httpx.AsyncClient) -> None:
    owner, other = await create_tenant(api), await create_tenant(api)
    source = await create_source(api, owner.headers, **STRIPE)
    await start_sync(api, owner.headers, source["id"])
    base = f"/api/v1/data-sources/{source['id']}"
    for method, path in [
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", base + "/test"),
        ("POST", base + "/sync"),
        ("GET", base + "/syncs"),
    ]:
        response = await api.request(
            method, path, headers=other.headers, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path, response.text)
    assert (await api.get("/api/v1/data-sources", headers=other.headers)).json()["total"] == 0
    assert (await api.get("/api/v1/jobs", headers=other.headers)).json()["total"] == 0


async def test_second_sync_request_while_one_waits_is_a_conflict(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    source = await create_source(api, tenant.headers, **STRIPE)
    first = await start_sync(api, tenant.headers, source["id"])
    second = await api.post(f"/api/v1/data-sources/{source['id']}/sync", headers=tenant.headers)
    assert second.status_code == 409
    syncs = (await api.get(f"/api/v1/data-sources/{source['id']}/syncs", headers=tenant.headers)).json()
    assert [s["id"] for s in syncs["items"]] == [first["id"]]
    assert syncs["items"][0]["status"] == "queued"


async def test_test_endpoint_says_precisely_what_failed(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    with serve(stripe_app(FakeState(), [])) as base:
        good = await create_source(api, tenant.headers, **{**STRIPE, "config": {"api_base": base}})
        bad = await create_source(
            api,
            tenant.headers,
            connector_type="stripe",
            config={"api_base": base},
            credentials={"secret_key": "sk_test_revoked_key"},
        )
        ok = (await api.post(f"/api/v1/data-sources/{good['id']}/test", headers=tenant.headers)).json()
        failed = (await api.post(f"/api/v1/data-sources/{bad['id']}/test", headers=tenant.headers)).json()
    assert ok["ok"] is True and ok["error"] is None
    assert failed["ok"] is False
    assert failed["error"]["code"] == "upstream_rejected"
    assert (
        failed["error"]["message"]
        == f"{base}/v1/balance_transactions answered 401 (the credentials were rejected)"
    )


async def test_file_source_upload_is_ingested_and_recorded_as_a_sync(
    api: httpx.AsyncClient, database: Database
) -> None:
    tenant = await create_tenant(api)
    source = await create_source(api, tenant.headers, connector_type="file", config={"layout": "wide"})
    csv = b"date,revenue,orders\n2026-01-05,100.5,3\n2026-01-06,80,2\n"
    files = {"file": ("sales.csv", csv, "text/csv")}
    uploaded = await api.post(
        f"/api/v1/data-sources/{source['id']}/upload", headers=tenant.headers, files=files
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["trigger"], uploaded.json()["points_written"]) == ("upload", 4)
    points = await stored_points(database, tenant.tenant_id)
    assert points[("revenue", "2026-01-05T00:00:00+00:00", "")] == 100.5
    assert len(points) == 4
    sync = await api.post(f"/api/v1/data-sources/{source['id']}/sync", headers=tenant.headers)
    assert sync.status_code == 422


async def test_viewer_can_read_but_not_configure_or_sync(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    source = await create_source(api, tenant.headers, **STRIPE)
    _, viewer = await invite_and_activate(api, tenant, role="viewer")
    assert (await api.get(f"/api/v1/data-sources/{source['id']}", headers=viewer)).status_code == 200
    assert (
        await api.post("/api/v1/data-sources", headers=viewer, json={"name": "v", **STRIPE})
    ).status_code == 403
    assert (await api.post(f"/api/v1/data-sources/{source['id']}/sync", headers=viewer)).status_code == 403


async def test_dispatcher_queues_due_scheduled_syncs_and_advances_the_schedule(
    api: httpx.AsyncClient, worker_database: Database, loopback_settings: Settings
) -> None:
    tenant = await create_tenant(api)
    source = await create_source(api, tenant.headers, schedule="hourly", **STRIPE)
    due_at = datetime.fromisoformat(source["next_sync_at"])
    runtime = JobRuntime(loopback_settings, worker_database, shared_compute())
    await dispatch_due_syncs(runtime, now=due_at - timedelta(seconds=1))
    early = (await api.get(f"/api/v1/data-sources/{source['id']}/syncs", headers=tenant.headers)).json()
    assert early["total"] == 0  # not due yet
    await dispatch_due_syncs(runtime, now=due_at + timedelta(seconds=1))
    syncs = (await api.get(f"/api/v1/data-sources/{source['id']}/syncs", headers=tenant.headers)).json()
    assert [(s["trigger"], s["status"]) for s in syncs["items"]] == [("schedule", "queued")]
    after = (await api.get(f"/api/v1/data-sources/{source['id']}", headers=tenant.headers)).json()
    assert datetime.fromisoformat(after["next_sync_at"]) > datetime.now(UTC)
