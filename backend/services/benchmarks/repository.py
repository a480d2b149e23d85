"""Queries of the benchmarks feature. Writes go through ``import_external_benchmarks`` (SECURITY DEFINER)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BusinessMetric, ExternalBenchmark, MetricDefinition, Tenant
from backend.utils.database import session_tenant

_AGGREGATES: dict[str, Any] = {
    "sum": func.sum(BusinessMetric.value),
    "avg": func.avg(BusinessMetric.value),
    "min": func.min(BusinessMetric.value),
    "max": func.max(BusinessMetric.value),
    "count": func.count(),
}


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
    return await session.scalar(
        select(MetricDefinition.aggregation).where(
            MetricDefinition.tenant_id == session_tenant(session), MetricDefinition.name == metric
        )
    )


async def aggregate(
    session: AsyncSession, metric: str, aggregation: str, start: datetime, end: datetime
) -> float | None:
    """The tenant's ``metric`` over [start, end) with ``aggregation`` (all dimensions together)."""
    conditions = (
        BusinessMetric.tenant_id == session_tenant(session),
        BusinessMetric.metric == metric,
        BusinessMetric.ts >= start,
        BusinessMetric.ts < end,
    )
    if aggregation == "last":
        expression: Any = (
            select(BusinessMetric.value).where(*conditions).order_by(BusinessMetric.ts.desc()).limit(1)
        )
        value = await session.scalar(expression)
        return float(value) if value is not None else None
    count = await session.scalar(select(func.count()).select_from(BusinessMetric).where(*conditions))
    if not count:
        return None
    value = await session.scalar(select(_AGGREGATES[aggregation]).where(*conditions))
    return float(value) if value is not None else None
