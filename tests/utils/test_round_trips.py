"""Round trips to PostgreSQL per authenticated request: a regression here fails, not just slows.

Every statement is counted where it leaves the app: SQLAlchemy's ``before_cursor_execute``
engine event for the statements SQLAlchemy sends, and asyncpg's query logger (attached on
the pool's ``checkout`` event) for what goes to the driver directly: ``BEGIN``/``COMMIT``
and the hot-path reads of ``driver_fetch``. The two never see the same statement.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, func, select, text

from backend.models import User
from backend.utils.database import Database, TenantConnection
from tests.factories import create_tenant


@asynccontextmanager
async def recorded_statements(database: Database) -> AsyncIterator[list[str]]:
    """The statements ``database`` sends while the block runs, in order."""
    statements: list[str] = []
    logged: weakref.WeakSet[Any] = weakref.WeakSet()

    def on_driver_query(record: Any) -> None:
        statements.append(record.query)

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in logged:
            logged.add(driver)
            driver.add_query_logger(on_driver_query)

    def on_statement(*args: Any) -> None:
        statements.append(args[2])

    pool, engine = database.engine.sync_engine.pool, database.engine.sync_engine
    event.listen(pool, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield statements
        # asyncpg calls its query loggers on the next turn of the event loop.
        for _ in range(3):
            await asyncio.sleep(0)
    finally:
        event.remove(pool, "checkout", on_checkout)
        event.remove(engine, "before_cursor_execute", on_statement)
        for driver in list(logged):
            driver.remove_query_logger(on_driver_query)


def kinds(statements: list[str]) -> list[str]:
    """Each statement as its first word, with the tenant setting named."""
    named = []
    for statement in statements:
        word = statement.split(None, 1)[0].rstrip(";").lower()
        if word == "begin" and "set_config('app.tenant_id'" in statement:
            word = "begin+tenant"
        named.append(word)
    return named


async def test_me_is_four_round_trips(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await client.get("/api/v1/auth/me", headers=tenant.headers)  # warm: prepared statements
    async with recorded_statements(app.state.database) as statements:
        response = await client.get("/api/v1/auth/me", headers=tenant.headers)
    assert response.status_code == 200
    # BEGIN carries the tenant; the caller check; the user the route shows; COMMIT.
    assert kinds(statements) == ["begin+tenant", "select", "select", "commit"], statements


async def test_a_short_list_is_four_round_trips(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    async with recorded_statements(app.state.database) as statements:
        response = await client.get("/api/v1/goals", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["total"] == 0
    # No count(*): a page shorter than the limit is the whole list.
    assert kinds(statements) == ["begin+tenant", "select", "select", "commit"], statements


async def test_a_full_page_still_counts_the_whole_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    for index in range(3):
        body = {"email": f"u{index}-{tenant.email}", "role": "viewer"}
        created = await client.post("/api/v1/users", headers=tenant.headers, json=body)
        assert created.status_code == 201, created.text
    async with recorded_statements(app.state.database) as statements:
        response = await client.get("/api/v1/users", headers=tenant.headers, params={"limit": 2})
        past_end = await client.get("/api/v1/users", headers=tenant.headers, params={"offset": 10})
    assert (response.json()["total"], len(response.json()["items"])) == (4, 2)
    assert (past_end.json()["total"], past_end.json()["items"]) == (4, [])
    assert sum("count(*)" in statement for statement in statements) == 2


async def test_a_tenant_armed_for_begin_never_reaches_the_next_user(
    client: httpx.AsyncClient, one_connection_database: Database
) -> None:
    tenant = await create_tenant(client)
    # A transaction that begins and ends without a statement: BEGIN never went out.
    async with one_connection_database.tenant_session(tenant.tenant_id) as session:
        await session.connection()
    async with one_connection_database.system_connection() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert isinstance(raw, TenantConnection)
        setting = await connection.scalar(text("select current_setting('app.tenant_id', true)"))
        visible = await connection.scalar(text("select count(*) from users"))
    assert setting in (None, "")
    assert visible == 0
    # And a tenant session on the same connection still sees its tenant.
    async with one_connection_database.tenant_session(tenant.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
