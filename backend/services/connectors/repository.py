"""Every query of the connectors feature (RLS plus the tenant in every WHERE)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ConnectorSync, DataSource, Tenant
from backend.utils.database import Database, session_tenant


async def source_by_id(
    session: AsyncSession, source_id: uuid.UUID, *, for_update: bool = False
) -> DataSource | None:
    statement = select(DataSource).where(
        DataSource.tenant_id == session_tenant(session), DataSource.id == source_id
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def source_by_name(session: AsyncSession, name: str) -> DataSource | None:
    statement = select(DataSource).where(
        DataSource.tenant_id == session_tenant(session), DataSource.name == name
    )
    return (await session.scalars(statement)).one_or_none()


async def list_sources(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[DataSource], int]:
    tenant = DataSource.tenant_id == session_tenant(session)
    total = await session.scalar(select(func.count()).select_from(DataSource).where(tenant))
    rows = await session.scalars(
        select(DataSource).where(tenant).order_by(DataSource.name).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def sync_by_id(session: AsyncSession, sync_id: uuid.UUID) -> ConnectorSync | None:
    return await session.get(ConnectorSync, (session_tenant(session), sync_id))


async def list_syncs(
    session: AsyncSession, source_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[ConnectorSync], int]:
    conditions = (
        ConnectorSync.tenant_id == session_tenant(session),
        ConnectorSync.data_source_id == source_id,
    )
    total = await session.scalar(select(func.count()).select_from(ConnectorSync).where(*conditions))
    rows = await session.scalars(
        select(ConnectorSync)
        .where(*conditions)
        .order_by(ConnectorSync.created_at.desc(), ConnectorSync.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


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
