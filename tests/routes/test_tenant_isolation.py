"""Two tenants through the API: A can neither see nor touch B's rows (404, never 403)."""

from __future__ import annotations

import uuid

import httpx

from tests.factories import create_tenant, invite_and_activate, problem_locations, unique_email


async def test_tenant_cannot_list_read_update_or_delete_another_tenants_users(
    client: httpx.AsyncClient,
) -> None:
    a = await create_tenant(client, name="A")
    b = await create_tenant(client, name="B")
    b_user_id, _ = await invite_and_activate(client, b, role="analyst")

    listed = await client.get("/api/v1/users", params={"include_inactive": True}, headers=a.headers)
    assert {item["id"] for item in listed.json()["items"]} == {str(a.owner_id)}
    for target in (b_user_id, b.owner_id):
        read = await client.get(f"/api/v1/users/{target}", headers=a.headers)
        update = await client.patch(f"/api/v1/users/{target}", headers=a.headers, json={"role": "viewer"})
        delete = await client.delete(f"/api/v1/users/{target}", headers=a.headers)
        assert (read.status_code, update.status_code, delete.status_code) == (404, 404, 404)
        assert read.json()["error"]["code"] == "not_found"

    b_view = await client.get(f"/api/v1/users/{b_user_id}", headers=b.headers)
    assert b_view.json()["role"] == "analyst" and b_view.json()["is_active"] is True


async def test_tenant_cannot_see_or_revoke_another_tenants_api_keys(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    b_key = (await client.post("/api/v1/api-keys", headers=b.headers, json={"name": "b-key"})).json()
    a_list = await client.get("/api/v1/api-keys", headers=a.headers)
    assert a_list.json()["total"] == 0
    assert (await client.delete(f"/api/v1/api-keys/{b_key['id']}", headers=a.headers)).status_code == 404
    # B's key still works and still names B's tenant.
    me = await client.get("/api/v1/auth/me", headers={"X-API-Key": b_key["key"]})
    assert me.status_code == 200 and me.json()["tenant_id"] == str(b.tenant_id)


async def test_tenant_profile_is_the_callers_own(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client, name="Alpha")
    b = await create_tenant(client, name="Beta")
    patched = await client.patch(
        "/api/v1/tenants/me", headers=a.headers, json={"name": "Alpha Prime", "timezone": "America/New_York"}
    )
    assert patched.status_code == 200 and patched.json()["id"] == str(a.tenant_id)
    assert (await client.get("/api/v1/tenants/me", headers=b.headers)).json()["name"] == "Beta"
    bad_zone = await client.patch("/api/v1/tenants/me", headers=a.headers, json={"timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422


async def test_rows_created_by_a_land_in_a_whatever_the_body_says(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    # A tenant_id smuggled into the body is ignored: the tenant comes from the credential.
    invited = await client.post(
        "/api/v1/users",
        headers=a.headers,
        json={"email": unique_email(), "role": "viewer", "tenant_id": str(b.tenant_id)},
    )
    assert invited.status_code == 201
    b_users = await client.get("/api/v1/users", headers=b.headers)
    assert invited.json()["user"]["id"] not in {item["id"] for item in b_users.json()["items"]}
    a_users = await client.get("/api/v1/users", headers=a.headers)
    assert invited.json()["user"]["id"] in {item["id"] for item in a_users.json()["items"]}


async def test_unknown_ids_are_not_found(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    assert (await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=a.headers)).status_code == 404
    malformed = await client.get("/api/v1/users/not-a-uuid", headers=a.headers)
    assert malformed.status_code == 422
    assert problem_locations(malformed.json()["error"])[0] == ["path", "user_id"]
