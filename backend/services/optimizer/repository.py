"""Every query of the optimizer: its runs, and the tenant metrics its inputs may reference."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models.metric import BusinessMetric
from backend.models.optimization import OptimizationRun
from backend.services.optimizer.types import RunTimings, StoredSolution
from backend.utils.database import session_tenant


async def add_run(
    session: AsyncSession,
    *,
    template: str,
    params: dict[str, Any],
    solution: StoredSolution,
    timings: RunTimings,
) -> OptimizationRun:
    """Store a solved run; the only writer of ``solution`` and ``timings``."""
    run = OptimizationRun(
        tenant_id=session_tenant(session),
        template=template,
        status=solution.status,
        solver=solution.solver,
        objective=solution.objective,
        params=params,
        solution=solution.model_dump(mode="json"),
        timings=timings.model_dump(mode="json"),
    )
    session.add(run)
    await session.flush()
    # created_at/updated_at come from the database; load them so the response can carry them.
    await session.refresh(run, ["created_at", "updated_at"])
    return run


def run_solution(run: OptimizationRun) -> StoredSolution:
    """The typed ``solution`` of a stored run; the only reader of that column."""
    return StoredSolution.model_validate(run.solution)


def run_timings(run: OptimizationRun) -> RunTimings:
    """The typed ``timings`` of a stored run; the only reader of that column."""
    return RunTimings.model_validate(run.timings)


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> OptimizationRun | None:
    statement = select(OptimizationRun).where(
        OptimizationRun.tenant_id == session_tenant(session), OptimizationRun.id == run_id
    )
    result: OptimizationRun | None = await session.scalar(statement)
    return result


async def list_runs(
    session: AsyncSession, *, template: str | None, status: str | None, limit: int, offset: int
) -> tuple[list[OptimizationRun], int]:
    statement = select(OptimizationRun).where(OptimizationRun.tenant_id == session_tenant(session))
    if template is not None:
        statement = statement.where(OptimizationRun.template == template)
    if status is not None:
        statement = statement.where(OptimizationRun.status == status)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = await session.scalars(
        statement.order_by(OptimizationRun.created_at.desc(), OptimizationRun.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


@dataclass(frozen=True)
class MetricAggregate:
    """An aggregate of one metric's observations over a trailing window."""

    value: float | None
    points: int


_AGGREGATES: dict[str, Any] = {
    "avg": func.avg,
    "sum": func.sum,
    "min": func.min,
    "max": func.max,
    "stddev": func.stddev_samp,
}


async def aggregate_metric(
    session: AsyncSession,
    *,
    metric: str,
    agg: str,
    window: timedelta,
    dimensions: dict[str, Any] | None,
) -> MetricAggregate:
    """``agg`` of ``metric`` over observations in the trailing ``window`` (up to the database's now).

    ``agg`` is one of avg, sum, min, max, stddev (sample) or latest (the most recent value).
    ``dimensions`` keeps only observations whose dimensions contain those pairs.
    """
    filters = [
        BusinessMetric.tenant_id == session_tenant(session),
        BusinessMetric.metric == metric,
        BusinessMetric.ts > func.now() - window,
        BusinessMetric.ts <= func.now(),
    ]
    if dimensions:
        filters.append(BusinessMetric.dimensions.contains(dimensions))
    points = int(await session.scalar(select(func.count()).where(*filters)) or 0)
    if points == 0:
        return MetricAggregate(None, 0)
    if agg == "latest":
        latest = await session.scalar(
            select(BusinessMetric.value).where(*filters).order_by(BusinessMetric.ts.desc()).limit(1)
        )
        return MetricAggregate(None if latest is None else float(latest), points)
    value = await session.scalar(select(_AGGREGATES[agg](BusinessMetric.value)).where(*filters))
    return MetricAggregate(None if value is None else float(value), points)
