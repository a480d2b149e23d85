"""Alembic environment: async, owner role, RLS-aware.

The URL and the application and worker roles' names come from ``config.attributes`` when
a caller (the test suite, ``backend.cli``) passes them, else from the backend settings.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from backend.config import get_settings
from backend.models import Base
from backend.utils.database_urls import resolve_database_urls

config = context.config
target_metadata = Base.metadata


def _owner_url_and_app_role() -> tuple[str, str]:
    url = config.attributes.get("owner_url")
    app_role = config.attributes.get("app_role")
    if url is None or app_role is None:
        settings = get_settings()
        urls = resolve_database_urls(settings.database)
        url = url or urls.owner
        app_role = app_role or urls.app_role
    return url, app_role


def _worker_role() -> str:
    role = config.attributes.get("worker_role")
    return str(role) if role is not None else get_settings().database.worker_role


def _run(connection: Connection, app_role: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    # Migrations read these to grant DML to the right roles.
    context.get_context().opts["app_role"] = app_role
    context.get_context().opts["worker_role"] = _worker_role()
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url, app_role = _owner_url_and_app_role()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, app_role)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: RLS setup inspects the server")

connection = config.attributes.get("connection")
if connection is not None:
    _run(connection, config.attributes["app_role"])
else:
    asyncio.run(_run_online())
