"""Tenant isolation at the SQL level, connecting as the application role."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.models import User
from backend.services.auth.service import Credential, confirm_principal
from backend.services.tenant.service import tenant_zone, update_current_tenant
from backend.utils.database import TENANT_INFO_KEY, TENANT_ZONE_INFO_KEY, Database, TenantContextMissing
from backend.utils.security import decode_access_token
from tests.factories import create_tenant


async def test_no_tenant_set_sees_no_rows_and_cannot_insert(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    await create_tenant(client)
    async with app_engine.connect() as connection:
        assert await connection.scalar(text("select count(*) from users")) == 0
        assert await connection.scalar(text("select count(*) from tenants")) == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            await connection.execute(
                text("insert into tenants (id, name) values (:id, 'sneaky')"), {"id": uuid.uuid4()}
            )


async def test_one_tenant_setting_never_sees_another(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    a = await create_tenant(client, name="A")
    b = await create_tenant(client, name="B")
    async with app_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(a.tenant_id)}
        )
        tenant_ids = set((await connection.execute(text("select tenant_id from users"))).scalars())
        assert tenant_ids == {a.tenant_id}
        # Reaching for B's rows by id still finds nothing, and writing into B is refused.
        assert (
            await connection.scalar(
                text("select count(*) from users where tenant_id = :b"), {"b": b.tenant_id}
            )
            == 0
        )
        with pytest.raises(DBAPIError, match="row-level security"):
            await connection.execute(
                text(
                    "insert into users (tenant_id, id, email, role) "
                    "values (:b, :id, 'x@example.com', 'owner')"
                ),
                {"b": b.tenant_id, "id": uuid.uuid4()},
            )


async def test_pool_of_one_does_not_leak_tenant_to_next_use(
    client: httpx.AsyncClient, one_connection_database: Database
) -> None:
    a = await create_tenant(client)
    async with one_connection_database.tenant_session(a.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
    # Same single pooled connection, no tenant: the setting was transaction-local.
    async with one_connection_database.system_connection() as connection:
        setting = await connection.scalar(text("select current_setting('app.tenant_id', true)"))
        visible = await connection.scalar(text("select count(*) from users"))
    assert setting in (None, "")
    assert visible == 0
    assert one_connection_database.engine.pool.checkedout() == 0


async def test_tenant_survives_a_mid_session_commit(
    client: httpx.AsyncClient, one_connection_database: Database
) -> None:
    a = await create_tenant(client)
    async with one_connection_database.session(a.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
        await session.commit()
        # A new transaction begins; the hook sets the tenant again.
        assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_session_without_tenant_fails_loudly(one_connection_database: Database) -> None:
    async with one_connection_database.session(uuid.uuid4()) as session:
        session.info.pop(TENANT_INFO_KEY)
        with pytest.raises(TenantContextMissing):
            await session.execute(select(User))


async def test_the_caller_query_carries_the_tenant_zone_until_the_tenant_changes_it(
    client: httpx.AsyncClient, one_connection_database: Database, settings: Settings
) -> None:
    a = await create_tenant(client)
    claims = decode_access_token(settings.auth, a.access_token)
    async with one_connection_database.tenant_session(a.tenant_id) as session:
        credential = Credential(
            kind="user",
            tenant_id=a.tenant_id,
            subject=a.owner_id,
            session_id=claims.session_id,
            token_version=claims.token_version,
        )
        await confirm_principal(session, credential)
        assert session.info[TENANT_ZONE_INFO_KEY] == "UTC"
        assert await tenant_zone(session) == ZoneInfo("UTC")
        await update_current_tenant(session, {"timezone": "America/New_York"})
        assert await tenant_zone(session) == ZoneInfo("America/New_York")
