"""Every query of the evidence feature: the metric series it analyses and the evidence graph it keeps."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from backend.models import MetricDefinition
from backend.models.evidence import EvidenceEdge
from backend.models.marketing_mix import MarketingMixModel
from backend.services.evidence.types import EdgeDetails, MmmFit, MmmSpec
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics.reader import MetricQuery
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, paginate, tenant_filter, tenant_select, where_given

# Listings and the graph need the numbers, not the stored result documents.
_SUMMARY = defer(EvidenceEdge.details, raiseload=True), defer(EvidenceEdge.refutations, raiseload=True)

# (local wall-clock time, value) pairs of one metric, oldest first.
LocalSeries = list[tuple[datetime, float]]


async def metric_aggregations(session: AsyncSession, names: Sequence[str]) -> dict[str, str]:
    """The catalog's aggregation of each of ``names`` that the tenant has (unknown names are absent)."""
    rows = await session.execute(
        select(MetricDefinition.name, MetricDefinition.aggregation).where(
            tenant_filter(session, MetricDefinition), MetricDefinition.name.in_(list(names))
        )
    )
    return {name: aggregation for name, aggregation in rows}


async def metric_names(session: AsyncSession, *, limit: int) -> list[str]:
    """The tenant's catalog names, alphabetical, at most ``limit``."""
    rows = await session.scalars(
        select(MetricDefinition.name)
        .where(tenant_filter(session, MetricDefinition))
        .order_by(MetricDefinition.name)
        .limit(limit)
    )
    return list(rows)


async def count_points(
    session: AsyncSession, names: Sequence[str], *, start: datetime | None, end: datetime | None
) -> dict[str, int]:
    """Observations per metric in ``[start, end)`` that its source rule reads (metrics without any
    are absent)."""
    counts = {}
    for name in names:
        result = await metrics_reader.count(session, MetricQuery(metric=name, start=start, end=end))
        if result.points:
            counts[name] = result.points
    return counts


async def read_series(
    session: AsyncSession,
    names: Sequence[str],
    *,
    start: datetime | None,
    end: datetime | None,
    zone: str,
) -> dict[str, LocalSeries]:
    """Every observation of ``names`` in ``[start, end)`` that the source rule reads, all
    dimensions, as local wall-clock times (the tenant's calendar day, as in the rollups)."""
    series: dict[str, LocalSeries] = {}
    for name in names:
        result = await metrics_reader.observations(
            session, MetricQuery(metric=name, start=start, end=end), limit=None, zone=zone
        )
        series[name] = [(row.ts, row.value) for row in result.rows]
    return series


async def add_edge(session: AsyncSession, edge: EvidenceEdge, details: EdgeDetails) -> EvidenceEdge:
    """Store an edge; the only writer of its JSON columns (``refutations`` repeats the result's, by name)."""
    edge.tenant_id = session_tenant(session)
    edge.details = details.model_dump(mode="json")
    edge.refutations = {
        r.name: r.model_dump(mode="json", exclude={"name"}) for r in details.result.refutations
    }
    session.add(edge)
    await session.flush()
    await session.refresh(edge, ["analysed_at"])
    return edge


def edge_details(edge: EvidenceEdge) -> EdgeDetails:
    """The typed ``details`` of a stored edge; the only reader of that column."""
    return EdgeDetails.model_validate(edge.details)


async def add_mmm_model(
    session: AsyncSession, model: MarketingMixModel, *, fit: MmmFit, spec: MmmSpec
) -> MarketingMixModel:
    """Store a fitted marketing-mix model; the only writer of its JSON columns."""
    model.tenant_id = session_tenant(session)
    model.result = fit.model_dump(mode="json")
    model.inputs = spec.model_dump(mode="json")
    session.add(model)
    await session.flush()
    await session.refresh(model)
    return model


def mmm_fit(model: MarketingMixModel) -> MmmFit:
    """The typed ``result`` of a stored marketing-mix model; the only reader of that column."""
    return MmmFit.model_validate(model.result)


async def get_edge(session: AsyncSession, edge_id: uuid.UUID) -> EvidenceEdge | None:
    # populate_existing: an edge already in the session from a listing has its documents deferred.
    result: EvidenceEdge | None = await session.scalar(
        tenant_select(session, EvidenceEdge)
        .where(EvidenceEdge.id == edge_id)
        .execution_options(populate_existing=True)
    )
    return result


async def list_edges(
    session: AsyncSession, window: PageWindow, *, cause: str | None, effect: str | None, verdict: str | None
) -> tuple[list[EvidenceEdge], int]:
    statement = where_given(
        tenant_select(session, EvidenceEdge).options(*_SUMMARY),
        (EvidenceEdge.cause, cause),
        (EvidenceEdge.effect, effect),
        (EvidenceEdge.verdict, verdict),
    )
    order = (EvidenceEdge.analysed_at.desc(), EvidenceEdge.id)
    return await paginate(session, statement, order_by=order, window=window)


async def newest_edges(session: AsyncSession, *, verdict: str | None) -> list[EvidenceEdge]:
    """The newest edge of each (cause, effect) pair; with ``verdict``, only pairs whose newest has it.

    The filter applies *after* picking the newest, so older evidence that a newer analysis
    overturned never shows up as current.
    """
    newest = (
        select(EvidenceEdge.tenant_id, EvidenceEdge.id, EvidenceEdge.verdict)
        .where(tenant_filter(session, EvidenceEdge))
        .ext(distinct_on(EvidenceEdge.cause, EvidenceEdge.effect))
        .order_by(EvidenceEdge.cause, EvidenceEdge.effect, EvidenceEdge.analysed_at.desc(), EvidenceEdge.id)
        .subquery()
    )
    statement = (
        select(EvidenceEdge)
        .options(*_SUMMARY)
        .join(newest, (EvidenceEdge.tenant_id == newest.c.tenant_id) & (EvidenceEdge.id == newest.c.id))
    )
    if verdict is not None:
        statement = statement.where(newest.c.verdict == verdict)
    rows = await session.scalars(statement.order_by(EvidenceEdge.cause, EvidenceEdge.effect))
    return list(rows)


async def metric_units(session: AsyncSession, names: Sequence[str]) -> dict[str, str | None]:
    rows = await session.execute(
        select(MetricDefinition.name, MetricDefinition.unit).where(
            tenant_filter(session, MetricDefinition), MetricDefinition.name.in_(list(names))
        )
    )
    return {name: unit for name, unit in rows}
