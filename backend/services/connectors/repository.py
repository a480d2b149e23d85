"""Every query of the connectors feature (RLS plus the tenant in every WHERE, through the repository kit)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ConnectorSync, DataSource, Tenant
from backend.utils.database import Database, session_tenant
from backend.utils.repository import PageWindow, get_by_id, paginate, tenant_one, tenant_select


async def source_by_id(
    session: AsyncSession, source_id: uuid.UUID, *, for_update: bool = False
) -> DataSource | None:
    return await tenant_one(session, DataSource, DataSource.id == source_id, lock=for_update)


async def source_by_name(session: AsyncSession, name: str) -> DataSource | None:
    return await tenant_one(session, DataSource, DataSource.name == name)


async def list_sources(session: AsyncSession, window: PageWindow) -> tuple[list[DataSource], int]:
    statement = tenant_select(session, DataSource)
    return await paginate(session, statement, order_by=(DataSource.name, DataSource.id), window=window)


async def sync_by_id(session: AsyncSession, sync_id: uuid.UUID) -> ConnectorSync | None:
    return await get_by_id(session, ConnectorSync, sync_id)


async def list_syncs(
    session: AsyncSession, source_id: uuid.UUID, window: PageWindow
) -> tuple[list[ConnectorSync], int]:
    statement = tenant_select(session, ConnectorSync).where(ConnectorSync.data_source_id == source_id)
    order = (ConnectorSync.created_at.desc(), ConnectorSync.id)
    return await paginate(session, statement, order_by=order, window=window)


async def tenant_timezone(session: AsyncSession) -> str:
    zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == session_tenant(session)))
    return zone or "UTC"


async def due_sources(database: Database, now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, source) pairs whose schedule is due, across tenants (SECURITY DEFINER lookup)."""
    async with database.system_connection() as connection:
        rows = await connection.execute(
            text("select tenant_id, id from connector_due_sources(:now)"), {"now": now}
        )
        return [(row.tenant_id, row.id) for row in rows]
