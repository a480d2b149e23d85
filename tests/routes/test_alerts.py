"""Alert rules and channels through the API: validation, ownership, roles, pagination, secrecy."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.factories import TenantContext, create_tenant, invite_and_activate


async def _metric(client: httpx.AsyncClient, tenant: TenantContext) -> None:
    response = await client.put(
        "/api/v1/metrics/revenue", headers=tenant.headers, json={"favourable_direction": "up"}
    )
    assert response.status_code in (200, 201), response.text


async def _channel(client: httpx.AsyncClient, tenant: TenantContext, name: str = "ops") -> dict[str, Any]:
    response = await client.post(
        "/api/v1/alerts/channels",
        headers=tenant.headers,
        json={"name": name, "kind": "webhook", "url": "https://hooks.example.com/dyocense?token=abc"},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _rule(channel_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "revenue low",
        "kind": "threshold",
        "metric": "revenue",
        "operator": "below",
        "threshold": 100,
        "channel_ids": [channel_id],
    }
    return {**body, **overrides}


async def test_rules_are_validated_before_anything_is_stored(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _metric(client, tenant)
    channel = await _channel(client, tenant)
    bad = [
        _rule(channel["id"], metric="no_such_metric"),
        _rule(channel["id"], operator=None),
        _rule(channel["id"], kind="anomaly"),  # operator and threshold do not apply
        _rule(channel["id"], kind="goal_status", operator=None, threshold=None),  # takes no metric
        _rule(str(uuid.uuid4())),
        _rule(channel["id"], channel_ids=[]),
        _rule(channel["id"], quiet_hours={"start": "22:00", "end": "22:00"}),
        _rule(channel["id"], min_severity="extreme"),
        _rule(channel["id"], unknown_field=1),
    ]
    for body in bad:
        response = await client.post("/api/v1/alerts/rules", headers=tenant.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_failed"
    listed = await client.get("/api/v1/alerts/rules", headers=tenant.headers)
    assert listed.json()["total"] == 0


async def test_rules_crud_with_pagination_and_quiet_hours(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _metric(client, tenant)
    channel = await _channel(client, tenant)
    quiet = {"start": "22:00:00", "end": "07:00:00"}
    first = await client.post(
        "/api/v1/alerts/rules", headers=tenant.headers, json=_rule(channel["id"], quiet_hours=quiet)
    )
    assert first.status_code == 201, first.text
    rule = first.json()
    assert (rule["scope"], rule["quiet_hours"], rule["channel_ids"]) == ("user", quiet, [channel["id"]])
    second = await client.post(
        "/api/v1/alerts/rules",
        headers=tenant.headers,
        json={
            "name": "sync broken",
            "kind": "data_health",
            "scope": "tenant",
            "channel_ids": [channel["id"]],
        },
    )
    assert second.status_code == 201 and second.json()["scope"] == "tenant"
    page = (await client.get("/api/v1/alerts/rules?limit=1&offset=1", headers=tenant.headers)).json()
    assert (page["total"], [r["name"] for r in page["items"]]) == (2, ["sync broken"])

    replaced = await client.put(
        f"/api/v1/alerts/rules/{rule['id']}", headers=tenant.headers, json=_rule(channel["id"], threshold=50)
    )
    assert replaced.status_code == 200 and replaced.json()["threshold"] == 50
    assert replaced.json()["quiet_hours"] is None
    gone = await client.delete(f"/api/v1/alerts/rules/{rule['id']}", headers=tenant.headers)
    assert gone.status_code == 204
    missing = await client.get(f"/api/v1/alerts/rules/{rule['id']}", headers=tenant.headers)
    assert missing.status_code == 404


async def test_members_keep_their_own_rules_and_only_admins_write_the_tenants(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await _metric(client, tenant)
    channel = await _channel(client, tenant)
    _, member = await invite_and_activate(client, tenant, role="analyst")
    tenant_rule = _rule(channel["id"], scope="tenant")
    refused = await client.post("/api/v1/alerts/rules", headers=member, json=tenant_rule)
    assert refused.status_code == 403
    owners = await client.post("/api/v1/alerts/rules", headers=tenant.headers, json=_rule(channel["id"]))
    assert owners.status_code == 201
    hidden = await client.get(f"/api/v1/alerts/rules/{owners.json()['id']}", headers=member)
    assert hidden.status_code == 404  # another user's rule: not found
    mine = await client.post("/api/v1/alerts/rules", headers=member, json=_rule(channel["id"]))
    assert mine.status_code == 201
    promoted = await client.put(f"/api/v1/alerts/rules/{mine.json()['id']}", headers=member, json=tenant_rule)
    assert promoted.status_code == 403
    no_channel = await client.post(
        "/api/v1/alerts/channels",
        headers=member,
        json={"name": "x", "kind": "email", "email": "a@example.com"},
    )
    assert no_channel.status_code == 403


async def test_channels_show_their_secret_once_and_another_tenant_sees_none(
    client: httpx.AsyncClient,
) -> None:
    tenant, other = await create_tenant(client), await create_tenant(client)
    channel = await _channel(client, tenant)
    assert channel["target"] == "https://hooks.example.com"  # no path, no query: they may be credentials
    assert len(channel["secret"]) >= 40
    listed = await client.get("/api/v1/alerts/channels", headers=tenant.headers)
    assert channel["secret"] not in listed.text and "token=abc" not in listed.text
    assert (
        await client.get(f"/api/v1/alerts/channels/{channel['id']}", headers=other.headers)
    ).status_code == 404
    log = await client.get(f"/api/v1/alerts/channels/{channel['id']}/deliveries", headers=other.headers)
    assert log.status_code == 404
    bad = [
        {"name": "a", "kind": "email", "url": "https://x.test/"},
        {"name": "b", "kind": "webhook", "email": "a@example.com"},
        {"name": "c", "kind": "slack", "url": "ftp://x.test/"},
        {"name": "ops", "kind": "email", "email": "a@example.com"},  # the name is taken
    ]
    for body in bad:
        response = await client.post("/api/v1/alerts/channels", headers=tenant.headers, json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await client.get("/api/v1/alerts/channels", headers=tenant.headers)).json()["total"] == 1
