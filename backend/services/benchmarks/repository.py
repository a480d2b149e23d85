"""Queries of the benchmarks feature. Writes go through ``import_external_benchmarks`` (SECURITY DEFINER)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ExternalBenchmark, Tenant
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics.reader import MetricQuery
from backend.utils.database import session_tenant


async def list_benchmarks(
    session: AsyncSession, *, industry: str | None, metric: str | None, limit: int, offset: int
) -> tuple[list[ExternalBenchmark], int]:
    conditions = []
    if industry is not None:
        conditions.append(func.lower(ExternalBenchmark.industry) == industry.lower())
    if metric is not None:
        conditions.append(ExternalBenchmark.metric == metric)
    total = await session.scalar(select(func.count()).select_from(ExternalBenchmark).where(*conditions))
    rows = await session.scalars(
        select(ExternalBenchmark)
        .where(*conditions)
        .order_by(ExternalBenchmark.industry, ExternalBenchmark.metric, ExternalBenchmark.year.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def import_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    written = await session.scalar(
        text("select import_external_benchmarks(cast(:rows as jsonb))"), {"rows": json.dumps(rows)}
    )
    return int(written or 0)


async def tenant_profile(session: AsyncSession) -> tuple[str | None, str]:
    row = (
        await session.execute(
            select(Tenant.industry, Tenant.timezone).where(Tenant.id == session_tenant(session))
        )
    ).one()
    return row.industry, row.timezone


async def metric_aggregation(session: AsyncSession, metric: str) -> str | None:
    found = await metrics_reader.definition(session, metric)
    return found.aggregation if found is not None else None


async def aggregate(
    session: AsyncSession, metric: str, aggregation: str, start: datetime, end: datetime
) -> float | None:
    """The tenant's ``metric`` over [start, end) with ``aggregation`` (all dimensions together,
    the metric's source rule applied); None without data."""
    query = MetricQuery(metric=metric, start=start, end=end)
    return (await metrics_reader.aggregate(session, query, aggregation)).value
