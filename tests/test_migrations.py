"""Migrations: upgrade -> downgrade -> upgrade on an empty database, and models match them."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.models import Base
from backend.utils.database_urls import resolve_database_urls
from backend.utils.embedded_db import EmbeddedPostgres
from backend.utils.migrations import downgrade, head_revision, upgrade
from tests.conftest import embedded_settings, query_rows

SCRATCH_DATABASE = "dyocense_migrations_test"


async def _public_tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        rows = await query_rows(
            engine,
            "select tablename from pg_tables where schemaname = 'public' and tablename <> 'alembic_version'",
        )
        return {row.tablename for row in rows}
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_on_empty_database(embedded_server: EmbeddedPostgres) -> None:
    embedded_server.drop_database(SCRATCH_DATABASE)
    urls = await asyncio.to_thread(resolve_database_urls, embedded_settings(), database=SCRATCH_DATABASE)
    try:
        await asyncio.to_thread(upgrade, urls.owner, urls.app_role)
        assert await _public_tables(urls.owner) == set(Base.metadata.tables)
        await asyncio.to_thread(downgrade, urls.owner, urls.app_role, "base")
        assert await _public_tables(urls.owner) == set()
        await asyncio.to_thread(upgrade, urls.owner, urls.app_role)
        assert await _public_tables(urls.owner) == set(Base.metadata.tables)
    finally:
        await asyncio.to_thread(embedded_server.drop_database, SCRATCH_DATABASE)


async def test_models_and_migrations_agree(owner_engine) -> None:  # type: ignore[no-untyped-def]
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with owner_engine.connect() as connection:
        differences = await connection.run_sync(diff)
        revision = await connection.scalar(text("select version_num from alembic_version"))
    assert differences == []
    assert revision == head_revision()
