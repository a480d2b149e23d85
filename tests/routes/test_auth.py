"""Sign-in, tokens and API keys: every way a credential can be wrong is a 401."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from jose import jwt

from backend.config import Settings
from backend.utils.database_urls import DatabaseUrls
from backend.utils.security import create_access_token
from tests.conftest import app_client, make_settings
from tests.factories import DEFAULT_PASSWORD, create_tenant, invite_and_activate, login, unique_email


async def test_login_accepts_oauth2_form_and_json(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    form = await client.post(
        "/api/v1/auth/login", data={"username": tenant.email, "password": tenant.password}
    )
    assert form.status_code == 200
    assert form.json()["token_type"] == "bearer"
    tokens = await login(client, tenant.email.upper(), tenant.password)  # emails are case-insensitive
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["tenant_id"] == str(tenant.tenant_id)
    assert me.json()["role"] == "owner"


async def test_unknown_email_and_wrong_password_fail_identically(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": "not-the-password"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": "whatever-pass"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_signup_without_password_activates_with_one_time_token(client: httpx.AsyncClient) -> None:
    email = unique_email()
    created = await client.post("/api/v1/tenants", json={"name": "Acme Corp", "owner_email": email})
    assert created.status_code == 201
    body = created.json()
    assert body["tokens"] is None and body["owner"]["activated_at"] is None
    token = body["activation"]["token"]
    rejected = await client.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    assert rejected.status_code == 401
    short = await client.post("/api/v1/auth/activate", json={"token": token, "password": "short"})
    assert short.status_code == 422
    activated = await client.post(
        "/api/v1/auth/activate", json={"token": token, "password": DEFAULT_PASSWORD}
    )
    assert activated.status_code == 200
    again = await client.post("/api/v1/auth/activate", json={"token": token, "password": DEFAULT_PASSWORD})
    assert again.status_code == 401
    await login(client, email, DEFAULT_PASSWORD)


async def test_same_email_twice_in_one_tenant_is_a_conflict(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    email = unique_email("analyst")
    first = await client.post(
        "/api/v1/users", headers=tenant.headers, json={"email": email, "role": "analyst"}
    )
    assert first.status_code == 201
    duplicate = await client.post(
        "/api/v1/users", headers=tenant.headers, json={"email": email.upper(), "role": "viewer"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"


async def test_expired_token_is_rejected(client: httpx.AsyncClient, settings: Settings) -> None:
    tenant = await create_tenant(client)
    token, _ = create_access_token(
        settings.auth,
        user_id=tenant.owner_id,
        tenant_id=tenant.tenant_id,
        role="owner",
        session_id=uuid.uuid4(),
        token_version=0,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_tampered_token_is_rejected(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    header, payload, signature = tenant.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "owner"
    claims["sub"] = str(uuid.uuid4())
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {header}.{forged_payload}.{signature}"}
    )
    assert response.status_code == 401


async def test_alg_none_token_is_rejected(client: httpx.AsyncClient, settings: Settings) -> None:
    tenant = await create_tenant(client)

    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {
        "type": "access",
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": str(tenant.owner_id),
        "tenant": str(tenant.tenant_id),
        "role": "owner",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401


async def test_token_signed_with_wrong_key_for_other_tenant_is_rejected(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    claims = {
        "type": "access",
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": str(a.owner_id),
        "tenant": str(b.tenant_id),
        "role": "owner",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    forged = jwt.encode(claims, "an-attacker-guessed-key-0000000000000", algorithm="HS256")
    response = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_refresh_token_used_as_access_token_is_rejected(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tenant.refresh_token}"}
    )
    assert response.status_code == 401


async def test_deactivated_user_token_stops_working(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    user_id, headers = await invite_and_activate(client, tenant, role="analyst")
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    deactivated = await client.delete(f"/api/v1/users/{user_id}", headers=tenant.headers)
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != tenant.refresh_token
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert replay.status_code == 401
    # The replay revoked the whole family, including the token the legitimate client holds.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401


async def test_logout_revokes_refresh_token(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    assert (
        await client.post("/api/v1/auth/logout", json={"refresh_token": tenant.refresh_token})
    ).status_code == 204
    refused = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert refused.status_code == 401


async def test_api_key_works_as_bearer_and_header_until_revoked(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await client.post(
        "/api/v1/api-keys", headers=tenant.headers, json={"name": "etl", "role": "viewer"}
    )
    assert created.status_code == 201
    key = created.json()["key"]
    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert "key" not in listed.json()["items"][0]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        me = await client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200 and me.json()["via_api_key"] is True and me.json()["role"] == "viewer"
    # The key acts with its own role, not its creator's.
    assert (await client.get("/api/v1/api-keys", headers={"X-API-Key": key})).status_code == 403
    revoked = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=tenant.headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401


async def test_viewer_cannot_manage_users_or_keys(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    assert (await client.get("/api/v1/users", headers=viewer)).status_code == 200
    forbidden = await client.post(
        "/api/v1/users", headers=viewer, json={"email": unique_email(), "role": "viewer"}
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    assert (await client.post("/api/v1/api-keys", headers=viewer, json={"name": "x"})).status_code == 403


async def test_admin_cannot_grant_owner_and_last_owner_stays(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    admin_id, admin = await invite_and_activate(client, tenant, role="admin")
    promote = await client.patch(f"/api/v1/users/{admin_id}", headers=admin, json={"role": "owner"})
    assert promote.status_code == 403
    demote_owner = await client.patch(
        f"/api/v1/users/{tenant.owner_id}", headers=tenant.headers, json={"role": "admin"}
    )
    assert demote_owner.status_code == 409


async def test_failed_logins_back_off_per_account_and_address(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    ip = {"X-Forwarded-For": "192.0.2.77"}
    free = settings.auth.login_free_failures
    statuses = []
    for _ in range(free + 2):
        response = await client.post(
            "/api/v1/auth/login", headers=ip, json={"email": tenant.email, "password": "wrong-password"}
        )
        statuses.append(response.status_code)
    assert statuses == [401] * (free + 1) + [429]
    assert int(response.headers["retry-after"]) > 0
    # The right password from another address is not refused (tests/routes/test_auth_limits.py).
    await login(client, tenant.email, tenant.password)


async def test_signup_is_rate_limited_per_ip_and_can_be_disabled(database_urls: DatabaseUrls) -> None:
    ip = {"X-Forwarded-For": "203.0.113.7"}
    async with app_client(make_settings(database_urls, signup_per_ip_per_hour=2)) as http:
        codes = [
            (
                await http.post(
                    "/api/v1/tenants", headers=ip, json={"name": "n", "owner_email": unique_email()}
                )
            ).status_code
            for _ in range(3)
        ]
    assert codes == [201, 201, 429]
    async with app_client(make_settings(database_urls, signup_enabled=False)) as http:
        refused = await http.post("/api/v1/tenants", json={"name": "n", "owner_email": unique_email()})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "signup_disabled"


async def test_api_key_last_use_is_recorded_without_a_write_per_request(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = (await client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "etl"})).json()
    for _ in range(3):
        assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})).status_code == 200
    (listed,) = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
    first_use = listed["last_used_at"]
    assert first_use is not None
    await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})
    (again,) = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert again["last_used_at"] == first_use  # within the minute: not rewritten
