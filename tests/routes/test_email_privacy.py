"""Whether an email is used by another tenant cannot be learned from sign-up, invites or sign-in."""

from __future__ import annotations

import httpx

from tests.factories import DEFAULT_PASSWORD, create_tenant, login, unique_email

OTHER_PASSWORD = "another-long-password-2"


def _shape(body: object) -> object:
    """The response with its values blanked: what a caller could compare between two answers."""
    if isinstance(body, dict):
        return {key: _shape(value) for key, value in body.items()}
    if isinstance(body, list):
        return [_shape(value) for value in body]
    return type(body).__name__


async def _sign_up(client: httpx.AsyncClient, email: str, password: str | None) -> httpx.Response:
    body: dict[str, object] = {"name": "Rival Co", "owner_email": email}
    if password is not None:
        body["owner_password"] = password
    return await client.post("/api/v1/tenants", json=body)


async def test_signup_with_an_email_of_another_tenant_answers_like_any_signup(
    client: httpx.AsyncClient,
) -> None:
    existing = await create_tenant(client)
    for password in (OTHER_PASSWORD, None):
        taken = await _sign_up(client, existing.email.upper(), password)
        fresh = await _sign_up(client, unique_email(), password)
        assert taken.status_code == fresh.status_code == 201, taken.text
        assert _shape(taken.json()) == _shape(fresh.json())
        assert taken.json()["tenant"]["id"] != str(existing.tenant_id)


async def test_invite_of_an_email_of_another_tenant_answers_like_any_invite(
    client: httpx.AsyncClient,
) -> None:
    existing = await create_tenant(client)
    inviter = await create_tenant(client)
    taken = await client.post(
        "/api/v1/users", headers=inviter.headers, json={"email": existing.email, "role": "analyst"}
    )
    fresh = await client.post(
        "/api/v1/users", headers=inviter.headers, json={"email": unique_email(), "role": "analyst"}
    )
    assert taken.status_code == fresh.status_code == 201, taken.text
    assert _shape(taken.json()) == _shape(fresh.json())
    listed = (await client.get("/api/v1/users", headers=inviter.headers)).json()["items"]
    assert existing.email in {user["email"] for user in listed}
    # The other tenant's user is untouched: their sign-in still works.
    await login(client, existing.email, DEFAULT_PASSWORD)


async def test_one_email_in_two_tenants_signs_in_to_the_one_named(client: httpx.AsyncClient) -> None:
    first = await create_tenant(client)
    second_body = (await _sign_up(client, first.email, OTHER_PASSWORD)).json()
    second_id = second_body["tenant"]["id"]

    # Without a tenant, the newest account with that email is tried (here: the second).
    newest = await login(client, first.email, OTHER_PASSWORD)
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {newest['access_token']}"})
    assert me.json()["tenant_id"] == second_id
    unnamed = await client.post("/api/v1/auth/login", json={"email": first.email, "password": first.password})
    assert unnamed.status_code == 401

    named = await client.post(
        "/api/v1/auth/login",
        json={"email": first.email, "password": first.password, "tenant_id": str(first.tenant_id)},
    )
    assert named.status_code == 200
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {named.json()['access_token']}"}
    )
    assert me.json()["tenant_id"] == str(first.tenant_id)
    form = await client.post(
        "/api/v1/auth/login",
        data={"username": first.email, "password": first.password, "tenant_id": str(first.tenant_id)},
    )
    assert form.status_code == 200
    # A password is only good in its own tenant.
    crossed = await client.post(
        "/api/v1/auth/login",
        json={"email": first.email, "password": OTHER_PASSWORD, "tenant_id": str(first.tenant_id)},
    )
    assert crossed.status_code == 401
    assert crossed.json() == unnamed.json()
