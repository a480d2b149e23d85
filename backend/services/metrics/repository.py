"""The metrics feature's writes (one set-based upsert), its catalog and deletions.

Reads of points go through ``backend.services.metrics.reader`` (the one read path).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BusinessMetric, MetricDefinition
from backend.services.metrics.points import EARLIEST_TS, LATEST_TS, Point, dimensions_key
from backend.services.metrics.reader import MetricQuery
from backend.utils.database import driver_copy, driver_fetch, session_tenant
from backend.utils.repository import PageWindow, tenant_filter

# One statement per batch ($1 tenant, $2 source, $3 the new metrics' default aggregations as JSON);
# the last of repeated (metric, dimensions, ts) wins, and metrics seen for the first time get
# catalog entries (existing declarations are kept). The writing source joins the definition's
# source list (``check_sources`` ran first, so it is either the metric's first source or already
# allowed): the first writer becomes priority[0]. ``{incoming}`` gives (metric, dimensions_key,
# ts, value, n), ``n`` the point's place in the batch.
# Only metrics whose definition is missing or does not list the source reach the definition
# insert: ``on conflict do update`` locks the conflicting row until commit even when its ``where``
# is false, so without the filter every batch of a metric would queue behind the last one's
# commit (four clients writing one metric ran as one).
_UPSERT_FROM = """
with incoming as ({incoming}
), latest as (
    select distinct on (metric, dimensions_key, ts) metric, dimensions_key, ts, value
    from incoming order by metric, dimensions_key, ts, n desc
), defined as (
    insert into metric_definitions as d (tenant_id, name, aggregation, source_priority)
    select $1, x->>0, x->>1, jsonb_build_array($2::text) from json_array_elements($3::text::json) as x
    where not exists (
        select from metric_definitions e
        where e.tenant_id = $1 and e.name = x->>0 and e.source_priority ? $2::text
    )
    on conflict (tenant_id, name) do update
        set source_priority = d.source_priority || excluded.source_priority
        where not d.source_priority ? $2::text
), written as (
    insert into business_metrics as m (tenant_id, metric, dimensions_key, ts, value, dimensions, source)
    select $1, metric, dimensions_key, ts, value,
        case when dimensions_key = '' then '{{}}'::jsonb else dimensions_key::jsonb end, $2::text
    from latest
    on conflict (tenant_id, metric, source, dimensions_key, ts) do update
        set value = excluded.value, dimensions = excluded.dimensions, ingested_at = now()
        where m.value is distinct from excluded.value
    returning (xmax = 0) as inserted
)
select (select count(*) from latest) as unique_points,
    count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated
from written
"""
# An API batch travels as one JSON text ($4: asyncpg encodes a list of timestamps an element at
# a time, far slower).
_UPSERT = _UPSERT_FROM.format(
    incoming="""
    select e->>0 as metric, e->>1 as dimensions_key, (e->>2)::timestamptz as ts, (e->>3)::float8 as value, n
    from json_array_elements($4::text::json) with ordinality as p(e, n)"""
)
# A big write is COPYed (binary) into a temporary staging table first: a quarter less time per
# point than the JSON text (PostgreSQL's JSON parsing and its sort spilling to disk), measured on
# 50,000 points with dimensions. At 5,000 points the two were level one at a time (336 vs 348 ms),
# and with four clients at once runs scattered between 0.27 and 0.45 of raw COPY for either: no
# gain for the staging path's four round trips. So API batches (at most 10,000 points) keep the
# JSON, and uploads and connector syncs (50,000-point chunks) take the staging table. The table is
# the connection's own, made once and emptied at every commit (no catalog churn per batch), and
# emptied again before each chunk of a transaction; a rollback takes its rows with it.
_STAGING = "incoming_points"
_STAGING_COLUMNS = ("metric", "dimensions_key", "ts", "value", "n")
_CREATE_STAGING = """
create temporary table if not exists incoming_points
    (metric text, dimensions_key text, ts timestamptz, value float8, n integer) on commit delete rows
"""
_EMPTY_STAGING = "truncate incoming_points"  # a previous chunk of the same transaction
_UPSERT_STAGED = _UPSERT_FROM.format(
    incoming="select metric, dimensions_key, ts, value, n from incoming_points"
)
COPY_MIN_POINTS = 20_000


@dataclass(frozen=True)
class UpsertCounts:
    unique: int  # points left once repeats within the batch collapsed
    inserted: int
    updated: int


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog row: the definition, and the points stored for it (every source counted)."""

    name: str
    unit: str | None
    description: str | None
    aggregation: str
    currency: str | None
    favourable_direction: str | None
    non_negative: bool | None
    display_format: str | None
    source_rule: str
    source_priority: list[str]
    first_ts: datetime | None
    last_ts: datetime | None
    points: int


# Callers outside the feature still import the read filter under this name.
PointFilter = MetricQuery


# Larger writes (uploads, connector backfills) go in several statements of this size, in the
# same transaction: each stays well inside the statement timeout.
UPSERT_CHUNK_POINTS = 100_000
# Above an API batch, checking points, collapsing repeats and encoding run in a thread, off the
# event loop.
INLINE_ENCODE_POINTS = 10_000


async def upsert_points(
    session: AsyncSession, points: Sequence[Point], source: str, aggregations: dict[str, str]
) -> UpsertCounts:
    """Insert or update by natural key, with catalog entries for new metrics (``aggregations``:
    name → default aggregation). One statement per batch; big writes in chunks, repeats first
    collapsed here (last wins) so that no chunk updates another's points and the counts hold."""
    if not points:
        return UpsertCounts(0, 0, 0)
    if len(points) <= UPSERT_CHUNK_POINTS:
        return await _upsert_statement(session, points, source, aggregations)
    latest = await asyncio.to_thread(_last_of_each, points)
    inserted = updated = 0
    for offset in range(0, len(latest), UPSERT_CHUNK_POINTS):
        counts = await _upsert_statement(
            session, latest[offset : offset + UPSERT_CHUNK_POINTS], source, aggregations
        )
        inserted, updated = inserted + counts.inserted, updated + counts.updated
    return UpsertCounts(unique=len(latest), inserted=inserted, updated=updated)


def _last_of_each(points: Sequence[Point]) -> list[Point]:
    """The last point of each (metric, dimensions, ts), in first-seen order."""
    return list({(p.metric, dimensions_key(p.dimensions), p.ts): p for p in points}.values())


def _encode(points: Sequence[Point]) -> str:
    # The canonical dimensions key is also the dimensions' JSON ("" means none).
    return orjson.dumps([(p.metric, dimensions_key(p.dimensions), p.ts, p.value) for p in points]).decode()


async def _upsert_statement(
    session: AsyncSession, points: Sequence[Point], source: str, aggregations: dict[str, str]
) -> UpsertCounts:
    declared = orjson.dumps(sorted(aggregations.items())).decode()
    tenant = session_tenant(session)
    if len(points) < COPY_MIN_POINTS:
        (row,) = await driver_fetch(session, _UPSERT, tenant, source, declared, _encode(points))
    else:
        rows = await asyncio.to_thread(_staging_rows, points)
        await driver_fetch(session, _CREATE_STAGING)
        await driver_fetch(session, _EMPTY_STAGING)
        await driver_copy(session, _STAGING, _STAGING_COLUMNS, rows)
        (row,) = await driver_fetch(session, _UPSERT_STAGED, tenant, source, declared)
    return UpsertCounts(
        unique=int(row["unique_points"]), inserted=int(row["inserted"]), updated=int(row["updated"])
    )


def _staging_rows(points: Sequence[Point]) -> list[tuple[str, str, datetime, float, int]]:
    # The canonical dimensions key is also the dimensions' JSON ("" means none).
    return [(p.metric, dimensions_key(p.dimensions), p.ts, p.value, n) for n, p in enumerate(points)]


# Per metric of a write: its declared sources and whether any *other* source has points (two
# probes of the primary key, (tenant, metric, source, …), on either side of the writing source).
_SOURCE_CHECK = """
select m.name, d.source_priority::text as priority,
    (select min(b.source) from business_metrics b
     where b.tenant_id = $1 and b.metric = m.name and b.source < $3::text) as other_before,
    (select min(b.source) from business_metrics b
     where b.tenant_id = $1 and b.metric = m.name and b.source > $3::text) as other_after
from unnest($2::text[]) as m(name)
left join metric_definitions d on d.tenant_id = $1 and d.name = m.name
order by m.name
"""


@dataclass(frozen=True)
class SourceClash:
    """A metric that ``source`` may not write: other sources have points, and its list lacks it."""

    metric: str
    existing: list[str]  # the definition's sources, then other sources found with points


async def source_clashes(session: AsyncSession, metrics: Sequence[str], source: str) -> list[SourceClash]:
    rows = await driver_fetch(session, _SOURCE_CHECK, session_tenant(session), list(metrics), source)
    clashes = []
    for row in rows:
        listed: list[str] = json.loads(row["priority"]) if row["priority"] else []
        others = [s for s in (row["other_before"], row["other_after"]) if s is not None]
        if others and source not in listed:
            clashes.append(SourceClash(row["name"], [*listed, *(s for s in others if s not in listed)]))
    return clashes


# The definition's columns a declaration may set (``name`` and ``tenant_id`` aside).
DEFINITION_FIELDS = (
    "unit",
    "description",
    "aggregation",
    "currency",
    "favourable_direction",
    "non_negative",
    "display_format",
    "source_rule",
    "source_priority",
)


async def upsert_definition(
    session: AsyncSession, name: str, *, aggregation: str, changes: dict[str, Any]
) -> None:
    """Create the definition (``aggregation`` when ``changes`` has none) or update the given
    columns; columns left out of ``changes`` keep their stored value."""
    unknown = set(changes) - set(DEFINITION_FIELDS)
    if unknown:
        raise ValueError(f"not definition columns: {sorted(unknown)}")
    values = {"aggregation": aggregation, **changes}
    statement = insert(MetricDefinition).values(tenant_id=session_tenant(session), name=name, **values)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "name"], set_={**changes, "updated_at": func.now()}
    )
    await session.execute(statement)


async def catalog(
    session: AsyncSession, window: PageWindow, *, names: Sequence[str] | None = None
) -> tuple[list[CatalogEntry], int]:
    tenant = session_tenant(session)
    where = "d.tenant_id = :tenant" + (" and d.name = any(:names)" if names is not None else "")
    params: dict[str, Any] = {
        "tenant": tenant,
        "limit": window.limit,
        "offset": window.offset,
        "names": list(names or []),
    }
    total = await session.scalar(text(f"select count(*) from metric_definitions d where {where}"), params)  # noqa: S608
    params.update(earliest=EARLIEST_TS, latest=LATEST_TS)
    rows = await session.execute(
        text(
            "select d.name, d.unit, d.description, d.aggregation, d.currency, d.favourable_direction, "  # noqa: S608
            "d.non_negative, d.display_format, d.source_rule, d.source_priority::text as source_priority, "
            "s.first_ts, s.last_ts, s.points "
            "from metric_definitions d left join lateral ("
            "  select min(ts) as first_ts, max(ts) as last_ts, count(*) as points from business_metrics m "
            "  where m.tenant_id = d.tenant_id and m.metric = d.name and m.ts >= :earliest and m.ts < :latest"
            ") s on true "
            f"where {where} order by d.name limit :limit offset :offset"
        ),
        params,
    )
    entries = [
        CatalogEntry(
            name=r.name,
            unit=r.unit,
            description=r.description,
            aggregation=r.aggregation,
            currency=r.currency,
            favourable_direction=r.favourable_direction,
            non_negative=r.non_negative,
            display_format=r.display_format,
            source_rule=r.source_rule,
            source_priority=json.loads(r.source_priority),
            first_ts=r.first_ts,
            last_ts=r.last_ts,
            points=int(r.points or 0),
        )
        for r in rows
    ]
    return entries, int(total or 0)


async def delete_points(session: AsyncSession, filters: PointFilter) -> int:
    statement = delete(BusinessMetric).where(
        tenant_filter(session, BusinessMetric), BusinessMetric.metric == filters.metric
    )
    if filters.start is not None:
        statement = statement.where(BusinessMetric.ts >= filters.start)
    if filters.end is not None:
        statement = statement.where(BusinessMetric.ts < filters.end)
    result: Any = await session.execute(statement)
    return int(result.rowcount or 0)


async def delete_source_points(
    session: AsyncSession, source: str, metrics: Sequence[str], start: datetime, end: datetime
) -> int:
    """Delete the points ``source`` wrote for ``metrics`` in ``[start, end)``; returns how many."""
    statement = delete(BusinessMetric).where(
        tenant_filter(session, BusinessMetric),
        BusinessMetric.metric.in_(list(metrics)),
        BusinessMetric.ts >= start,
        BusinessMetric.ts < end,
        BusinessMetric.source == source,
    )
    result: Any = await session.execute(statement)
    return int(result.rowcount or 0)


async def delete_definition(session: AsyncSession, name: str) -> None:
    await session.execute(
        delete(MetricDefinition).where(
            tenant_filter(session, MetricDefinition), MetricDefinition.name == name
        )
    )


async def metric_exists(session: AsyncSession, name: str) -> bool:
    statement = select(func.count()).where(
        tenant_filter(session, MetricDefinition), MetricDefinition.name == name
    )
    return bool(await session.scalar(statement))
