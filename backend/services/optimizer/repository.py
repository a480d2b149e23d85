"""Every query of the optimizer: its runs, and the tenant metrics its inputs may reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models.optimization import OptimizationRun
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics.reader import MetricQuery
from backend.services.optimizer.types import RunTimings, StoredSolution
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, paginate, tenant_select, where_given


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


async def list_runs(
    session: AsyncSession, window: PageWindow, *, template: str | None, status: str | None
) -> tuple[list[OptimizationRun], int]:
    statement = where_given(
        tenant_select(session, OptimizationRun),
        (OptimizationRun.template, template),
        (OptimizationRun.status, status),
    )
    order = (OptimizationRun.created_at.desc(), OptimizationRun.id)
    return await paginate(session, statement, order_by=order, window=window)


@dataclass(frozen=True)
class MetricAggregate:
    """An aggregate of one metric's observations over a trailing window."""

    value: float | None
    points: int


# The optimizer's reference vocabulary, in the metric read path's words.
_STATISTICS = {"avg": "avg", "sum": "sum", "min": "min", "max": "max", "stddev": "stddev", "latest": "last"}


async def aggregate_metric(
    session: AsyncSession,
    *,
    metric: str,
    agg: str,
    window: timedelta,
    dimensions: dict[str, Any] | None,
) -> MetricAggregate:
    """``agg`` of ``metric`` over observations in the trailing ``window`` ending now, the
    metric's source rule applied.

    ``agg`` is one of avg, sum, min, max, stddev (sample) or latest (the most recent value).
    ``dimensions`` keeps only observations whose dimensions contain those pairs.
    """
    now = datetime.now(UTC)
    query = MetricQuery(
        metric=metric,
        start=now - window,
        end=now + timedelta(microseconds=1),
        dimensions={key: _dimension_text(value) for key, value in (dimensions or {}).items()},
    )
    result = await metrics_reader.aggregate(session, query, _STATISTICS[agg])
    return MetricAggregate(result.value, result.points)


def _dimension_text(value: Any) -> str:
    # Dimension values are stored as text; a reference may spell a number or a flag bare.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
