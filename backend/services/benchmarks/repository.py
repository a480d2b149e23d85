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
from backend.utils.repository import PageWindow, paginate, where_given


async def list_benchmarks(
    session: AsyncSession, window: PageWindow, *, industry: str | None, metric: str | None
) -> tuple[list[ExternalBenchmark], int]:
    """Benchmarks are public reference data: no tenant filter."""
    statement = where_given(
        select(ExternalBenchmark),
        (func.lower(ExternalBenchmark.industry), industry.lower() if industry is not None else None),
        (ExternalBenchmark.metric, metric),
    )
    order = (ExternalBenchmark.industry, ExternalBenchmark.metric, ExternalBenchmark.year.desc())
    return await paginate(session, statement, order_by=order, window=window)


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
