"""Sign-in and credential limits: they stop guessing, and nobody can lock anyone else out."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.services.auth.service import login_backoff
from backend.utils.database_urls import DatabaseUrls
from backend.utils.rate_limit import RateLimiter
from tests.conftest import client_for, make_settings, running_app
from tests.factories import create_tenant, unique_email

GUESS_LIMIT = 3


def address() -> dict[str, str]:
    """A client address of its own (the test app trusts X-Forwarded-For), so tests never share counts."""
    return {"X-Forwarded-For": f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"}


async def _login(client: httpx.AsyncClient, ip: dict[str, str], email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", headers=ip, json={"email": email, "password": password})


async def test_wrong_passwords_never_lock_out_the_right_password_from_another_address(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    attacker, owner = address(), address()
    free = settings.auth.login_free_failures
    codes = [
        (await _login(client, attacker, tenant.email, "wrong-password")).status_code for _ in range(free + 2)
    ]
    assert codes == [401] * (free + 1) + [429]
    # The attacker's address waits, even with the right password (no oracle while blocked)...
    blocked = await _login(client, attacker, tenant.email, tenant.password)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # ...while the owner, from their own address, signs in at once.
    assert (await _login(client, owner, tenant.email, tenant.password)).status_code == 200


async def test_backoff_grows_with_each_failure(
    client: httpx.AsyncClient, app: FastAPI, app_engine: AsyncEngine, settings: Settings
) -> None:
    email, ip = unique_email(), address()
    limiter: RateLimiter = app.state.rate_limiter
    pair_hash = limiter.key_hash(login_backoff(settings.auth).scope, f"{email}|{ip['X-Forwarded-For']}")

    async def retry_after_of_next_attempt() -> int:
        response = await _login(client, ip, email, "wrong-password")
        assert response.status_code == 429
        return int(response.headers["retry-after"])

    async def wait_out_the_block() -> None:  # without sleeping: move the block into the past
        async with app_engine.begin() as connection:
            await connection.execute(
                text(
                    "update rate_limit_backoff set blocked_until = now() - interval '1 second' "
                    "where key_hash = :k"
                ),
                {"k": pair_hash},
            )

    for _ in range(settings.auth.login_free_failures + 1):
        assert (await _login(client, ip, email, "wrong-password")).status_code == 401
    waits = [await retry_after_of_next_attempt()]
    for _ in range(2):
        await wait_out_the_block()
        assert (await _login(client, ip, email, "wrong-password")).status_code == 401
        waits.append(await retry_after_of_next_attempt())
    base = settings.auth.login_backoff_base_seconds
    assert base // 2 < waits[0] <= base
    assert waits[0] < waits[1] < waits[2] <= 4 * base


async def test_distributed_guessing_slows_each_guessing_address_but_not_the_owner(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    limit = settings.auth.login_per_account_per_15min
    guessers = [address() for _ in range(limit + 1)]
    for guesser in guessers:  # one guess per address: under every per-address allowance
        assert (await _login(client, guesser, tenant.email, "wrong-password")).status_code == 401
    # Past the account-wide limit, one failure is enough to make an address wait.
    assert (await _login(client, guessers[-1], tenant.email, "wrong-password")).status_code == 429
    newcomer = address()
    assert (await _login(client, newcomer, tenant.email, "wrong-password")).status_code == 401
    assert (await _login(client, newcomer, tenant.email, "wrong-password")).status_code == 429
    # An address that has not failed is not slowed: the owner signs in.
    assert (await _login(client, address(), tenant.email, tenant.password)).status_code == 200


async def test_a_successful_sign_in_forgets_the_addresss_failures(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    ip = address()
    for _ in range(settings.auth.login_free_failures):
        assert (await _login(client, ip, tenant.email, "wrong-password")).status_code == 401
    assert (await _login(client, ip, tenant.email, tenant.password)).status_code == 200
    for _ in range(settings.auth.login_free_failures):
        assert (await _login(client, ip, tenant.email, "wrong-password")).status_code == 401


@pytest.fixture(scope="module")
async def strict_app(database_urls: DatabaseUrls) -> AsyncIterator[FastAPI]:
    async with running_app(
        make_settings(database_urls, credential_guesses_per_ip_per_15min=GUESS_LIMIT)
    ) as application:
        yield application


@pytest.fixture
async def strict(strict_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(strict_app) as http:
        yield http


def _guess(kind: str) -> tuple[str, str, dict[str, object]]:
    """(method, path, json) presenting an unknown secret of ``kind``."""
    unknown = secrets.token_urlsafe(32)
    if kind == "refresh":
        return "POST", "/api/v1/auth/refresh", {"refresh_token": unknown}
    if kind == "activation":
        return "POST", "/api/v1/auth/activate", {"token": unknown, "password": "a-long-enough-password"}
    return "GET", "/api/v1/auth/me", {}


async def _present(client: httpx.AsyncClient, kind: str, ip: dict[str, str]) -> httpx.Response:
    method, path, body = _guess(kind)
    headers = dict(ip)
    if kind == "api_key":
        headers["X-API-Key"] = f"dyo_{secrets.token_urlsafe(32)}"
    return await client.request(method, path, headers=headers, json=body or None)


@pytest.mark.parametrize("kind", ["refresh", "api_key", "activation"])
async def test_guessing_secrets_is_limited_per_address(strict: httpx.AsyncClient, kind: str) -> None:
    ip = address()
    responses = [await _present(strict, kind, ip) for _ in range(GUESS_LIMIT + 1)]
    assert [r.status_code for r in responses] == [401] * GUESS_LIMIT + [429]
    assert int(responses[-1].headers["retry-after"]) > 0
    assert responses[-1].json()["error"]["code"] == "rate_limited"
    # Another address is not affected.
    assert (await _present(strict, kind, address())).status_code == 401


async def test_a_guessing_address_cannot_use_a_right_secret_either(strict: httpx.AsyncClient) -> None:
    tenant = await create_tenant(strict)
    ip = address()
    for _ in range(GUESS_LIMIT):
        await _present(strict, "refresh", ip)
    blocked = await strict.post(
        "/api/v1/auth/refresh", headers=ip, json={"refresh_token": tenant.refresh_token}
    )
    assert blocked.status_code == 429
    elsewhere = await strict.post(
        "/api/v1/auth/refresh", headers=address(), json={"refresh_token": tenant.refresh_token}
    )
    assert elsewhere.status_code == 200


async def test_valid_secrets_are_never_counted(strict: httpx.AsyncClient) -> None:
    tenant = await create_tenant(strict)
    key = (await strict.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "etl"})).json()["key"]
    ip = address()
    for _ in range(GUESS_LIMIT * 2):
        assert (await strict.get("/api/v1/auth/me", headers={**ip, "X-API-Key": key})).status_code == 200
    refresh = tenant.refresh_token
    for _ in range(GUESS_LIMIT * 2):
        rotated = await strict.post("/api/v1/auth/refresh", headers=ip, json={"refresh_token": refresh})
        assert rotated.status_code == 200
        refresh = rotated.json()["refresh_token"]


async def test_app_role_cannot_delete_rate_limit_rows(app_engine: AsyncEngine) -> None:
    for table in ("rate_limit_counters", "rate_limit_backoff"):
        with pytest.raises(ProgrammingError, match="permission denied"):
            async with app_engine.begin() as connection:
                await connection.execute(text(f"delete from {table}"))
    async with app_engine.begin() as connection:
        stale = uuid.uuid4().hex
        await connection.execute(
            text(
                "insert into rate_limit_counters (key_hash, window_start, hits) "
                "values (:k, now() - interval '2 days', 1), (:fresh, now(), 1)"
            ),
            {"k": stale, "fresh": stale[::-1]},
        )
        await connection.execute(text("select rate_limit_cleanup()"))
        left = await connection.scalar(
            text("select array_agg(key_hash) from rate_limit_counters where key_hash in (:k, :fresh)"),
            {"k": stale, "fresh": stale[::-1]},
        )
    assert left == [stale[::-1]]  # the cleanup removes only old rows
