"""The connection pool hands out live connections after the server closed some."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from backend.utils.database import Database
from backend.utils.embedded_db import EmbeddedPostgres
from tests.conftest import TEST_DATABASE


async def test_a_connection_the_server_terminated_is_replaced_not_used(
    one_connection_database: Database, embedded_server: EmbeddedPostgres
) -> None:
    async with one_connection_database.system_connection() as connection:
        pid = await connection.scalar(text("select pg_backend_pid()"))
    # The pooled connection is killed from outside, as a restart or an admin would.
    admin = await asyncpg.connect(embedded_server.superuser_dsn(TEST_DATABASE))
    try:
        assert await admin.fetchval("select pg_terminate_backend($1)", pid)
        for _ in range(100):  # until the backend has exited and its socket is closed
            if not await admin.fetchval("select count(*) from pg_stat_activity where pid = $1", pid):
                break
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the driver reads the end of the stream

    async with one_connection_database.system_connection() as connection:
        new_pid = await connection.scalar(text("select pg_backend_pid()"))
    assert new_pid != pid
