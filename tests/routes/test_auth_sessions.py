"""Credentials end when they should: API keys follow their creator, sign-outs end access tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import query_rows
from tests.factories import DEFAULT_PASSWORD, create_tenant, invite_and_activate, login, unique_email

NEW_PASSWORD = "a-brand-new-long-password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _admin_key(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    created = await client.post("/api/v1/api-keys", headers=admin, json={"name": "etl", "role": "admin"})
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


async def test_demoted_admins_key_can_no_longer_act_as_admin(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    admin_id, admin = await invite_and_activate(client, tenant, role="admin")
    key = await _admin_key(client, admin)
    before = await client.post("/api/v1/users", headers=key, json={"email": unique_email(), "role": "admin"})
    assert before.status_code == 201

    demoted = await client.patch(f"/api/v1/users/{admin_id}", headers=tenant.headers, json={"role": "viewer"})
    assert demoted.status_code == 200

    me = await client.get("/api/v1/auth/me", headers=key)
    assert me.status_code == 200 and me.json()["role"] == "viewer"
    invite = await client.post("/api/v1/users", headers=key, json={"email": unique_email(), "role": "admin"})
    assert invite.status_code == 403
    new_key = await client.post("/api/v1/api-keys", headers=key, json={"name": "again", "role": "admin"})
    assert new_key.status_code == 403
    # Promoted back, the key regains (at most) its own role.
    await client.patch(f"/api/v1/users/{admin_id}", headers=tenant.headers, json={"role": "owner"})
    assert (await client.get("/api/v1/auth/me", headers=key)).json()["role"] == "admin"


async def test_key_dies_with_its_creators_deactivation(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    admin_id, admin = await invite_and_activate(client, tenant, role="admin")
    key = await _admin_key(client, admin)
    assert (await client.delete(f"/api/v1/users/{admin_id}", headers=tenant.headers)).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=key)).status_code == 401


async def test_nobody_creates_a_key_above_their_own_role(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    _, admin = await invite_and_activate(client, tenant, role="admin")
    refused = await client.post("/api/v1/api-keys", headers=admin, json={"name": "x", "role": "owner"})
    assert refused.status_code == 403


async def test_logout_ends_the_access_token_of_that_sign_in_only(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    other = await login(client, tenant.email, tenant.password)
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 200
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tenant.refresh_token})
    assert out.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(other["access_token"]))).status_code == 200


async def test_rotated_access_tokens_live_until_their_sign_in_ends(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    rotated = (await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})).json()
    # The first access token belongs to the same sign-in: still valid after a rotation.
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 200
    await client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    for token in (tenant.access_token, rotated["access_token"]):
        assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401


async def test_refresh_reuse_ends_the_sign_ins_access_tokens(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    rotated = (await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})).json()
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert replay.status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(rotated["access_token"]))).status_code == 401


async def test_password_change_ends_every_other_sign_in_and_returns_fresh_tokens(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    other = await login(client, tenant.email, tenant.password)
    changed = await client.post(
        "/api/v1/auth/password",
        headers=tenant.headers,
        json={"current_password": tenant.password, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    fresh = changed.json()
    for token in (tenant.access_token, other["access_token"]):
        assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    for refresh in (tenant.refresh_token, other["refresh_token"]):
        assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(fresh["access_token"]))).status_code == 200
    renewed = await client.post("/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert renewed.status_code == 200
    old = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert old.status_code == 401
    await login(client, tenant.email, NEW_PASSWORD)


async def test_password_change_needs_the_current_password_and_a_strong_new_one(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    wrong = await client.post(
        "/api/v1/auth/password",
        headers=tenant.headers,
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    short = await client.post(
        "/api/v1/auth/password",
        headers=tenant.headers,
        json={"current_password": tenant.password, "new_password": "short"},
    )
    assert short.status_code == 422
    # Neither changed anything: the session and the password still work.
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 200
    await login(client, tenant.email, DEFAULT_PASSWORD)


async def test_wrong_current_passwords_back_off(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = {"current_password": "not-my-password", "new_password": NEW_PASSWORD}
    codes = [
        (await client.post("/api/v1/auth/password", headers=tenant.headers, json=body)).status_code
        for _ in range(7)
    ]
    assert codes == [403] * 6 + [429]
    right = {"current_password": tenant.password, "new_password": NEW_PASSWORD}
    blocked = await client.post("/api/v1/auth/password", headers=tenant.headers, json=right)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


async def test_api_key_cannot_change_the_password(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    key = await _admin_key(client, tenant.headers)
    refused = await client.post(
        "/api/v1/auth/password",
        headers=key,
        json={"current_password": tenant.password, "new_password": NEW_PASSWORD},
    )
    assert refused.status_code == 403


async def test_logout_everywhere_ends_every_sign_in(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    other = await login(client, tenant.email, tenant.password)
    assert (await client.post("/api/v1/auth/logout-all", headers=tenant.headers)).status_code == 204
    for token in (tenant.access_token, other["access_token"]):
        assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    ).status_code == 401
    await login(client, tenant.email, tenant.password)


async def test_deactivation_ends_the_users_sign_ins(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    user_id, headers = await invite_and_activate(client, tenant, role="analyst")
    assert (await client.delete(f"/api/v1/users/{user_id}", headers=tenant.headers)).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_access_token_older_than_the_users_token_version_is_refused(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    """The version check stands on its own: it refuses a token whose sign-in is still live
    (as one minted by a refresh racing a password change would be)."""
    tenant = await create_tenant(client)
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        await connection.execute(
            text("update users set token_version = token_version + 1 where id = :u"), {"u": tenant.owner_id}
        )
    assert (await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code == 401
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert rotated.status_code == 200
    fresh = bearer(rotated.json()["access_token"])
    assert (await client.get("/api/v1/auth/me", headers=fresh)).status_code == 200


async def _locks_waited_on(engine: AsyncEngine) -> int:
    (row,) = await query_rows(
        engine,
        "select count(*) as waiting from pg_stat_activity "
        "where datname = current_database() and wait_event_type = 'Lock'",
    )
    return int(row.waiting)


async def _until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(300):  # a generous bound, not a timing assertion: each step waits 0.1 s
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached: {what}")


async def test_a_refresh_racing_a_revocation_leaves_no_live_token(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    """A refresh caught mid-way while a revocation of all the user's tokens starts must not
    leave a new token the revocation did not see (it is held here by a lock on the user row,
    as a password change, deactivation or sign-out everywhere takes)."""
    tenant = await create_tenant(client)
    scope = {"t": str(tenant.tenant_id), "u": tenant.owner_id}
    set_tenant = text("select set_config('app.tenant_id', :t, true)")

    async def revoke_all() -> None:
        async with app_engine.begin() as connection:
            await connection.execute(set_tenant, scope)
            await connection.execute(
                text(
                    "update refresh_tokens set revoked_at = now() "
                    "where tenant_id = :t and user_id = :u and revoked_at is null"
                ),
                scope,
            )

    async with app_engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(set_tenant, scope)
        await holder.execute(text("select 1 from users where tenant_id = :t and id = :u for update"), scope)
        refreshing = asyncio.create_task(
            client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
        )

        async def refresh_waits() -> bool:
            return await _locks_waited_on(app_engine) >= 1

        await _until("the refresh waits", refresh_waits)
        revoking = asyncio.create_task(revoke_all())

        async def revocation_waits_or_is_done() -> bool:
            return revoking.done() or await _locks_waited_on(app_engine) >= 2

        await _until("the revocation waits or is done", revocation_waits_or_is_done)
        await transaction.commit()
    refreshed, _ = await asyncio.gather(refreshing, revoking)

    async with app_engine.begin() as connection:
        await connection.execute(set_tenant, scope)
        live = await connection.scalar(
            text("select count(*) from refresh_tokens where user_id = :u and revoked_at is null"), scope
        )
    assert live == 0
    if refreshed.status_code == 200:
        again = refreshed.json()["refresh_token"]
        assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": again})).status_code == 401
