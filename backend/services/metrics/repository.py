"""Every query of the metrics feature. Writes go through one set-based upsert.

The rollup SQL groups by ``date_trunc(unit, ts, zone)`` for calendar buckets and
``date_bin(interval, ts, origin)`` for fixed ones; both run unchanged on a plain table
and on a TimescaleDB hypertable, served by the ``(tenant_id, metric, ts)`` index.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import asyncpg
import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import BusinessMetric, MetricDefinition
from backend.services.metrics.buckets import FIXED_ORIGIN, Bucket
from backend.services.metrics.points import EARLIEST_TS, LATEST_TS, Point, dimensions_key
from backend.utils.database import driver_fetch, session_tenant

# One statement per batch. Points travel as one JSON text (asyncpg encodes a list of timestamps
# an element at a time, far slower); the last of repeated (metric, dimensions, ts) wins, and
# metrics seen for the first time get catalog entries (existing declarations are kept).
_UPSERT = """
with incoming as (
    select e->>0 as metric, e->>1 as dimensions_key, (e->>2)::timestamptz as ts, (e->>3)::float8 as value, n
    from json_array_elements($2::text::json) with ordinality as p(e, n)
), latest as (
    select distinct on (metric, dimensions_key, ts) metric, dimensions_key, ts, value
    from incoming order by metric, dimensions_key, ts, n desc
), defined as (
    insert into metric_definitions (tenant_id, name, aggregation)
    select $1, d->>0, d->>1 from json_array_elements($4::text::json) as d
    on conflict (tenant_id, name) do nothing
), written as (
    insert into business_metrics as m (tenant_id, metric, dimensions_key, ts, value, dimensions, source)
    select $1, metric, dimensions_key, ts, value,
        case when dimensions_key = '' then '{}'::jsonb else dimensions_key::jsonb end, $3
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

_AGGREGATE_SQL = {
    "sum": "sum(value)",
    "avg": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "count(*)::float8",
    "last": "(array_agg(value order by ts desc))[1]",
}


@dataclass(frozen=True)
class UpsertCounts:
    unique: int  # points left once repeats within the batch collapsed
    inserted: int
    updated: int


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    unit: str | None
    description: str | None
    aggregation: str
    first_ts: datetime | None
    last_ts: datetime | None
    points: int


# Larger writes (uploads, connector backfills) go in several statements of this size, in the
# same transaction: each stays well inside the statement timeout and its JSON stays small.
UPSERT_CHUNK_POINTS = 100_000
# Above an API batch, collapsing repeats and encoding run in a thread, off the event loop.
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
    if len(points) <= INLINE_ENCODE_POINTS:
        payload = _encode(points)
    else:
        payload = await asyncio.to_thread(_encode, points)
    (row,) = await driver_fetch(
        session,
        _UPSERT,
        session_tenant(session),
        payload,
        source,
        orjson.dumps(sorted(aggregations.items())).decode(),
    )
    return UpsertCounts(
        unique=int(row["unique_points"]), inserted=int(row["inserted"]), updated=int(row["updated"])
    )


async def upsert_definition(
    session: AsyncSession, name: str, *, unit: str | None, description: str | None, aggregation: str
) -> None:
    statement = insert(MetricDefinition).values(
        tenant_id=session_tenant(session),
        name=name,
        unit=unit,
        description=description,
        aggregation=aggregation,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "name"],
        set_={"unit": unit, "description": description, "aggregation": aggregation, "updated_at": func.now()},
    )
    await session.execute(statement)


class DefinitionSummary(NamedTuple):
    unit: str | None
    aggregation: str


async def get_definition(session: AsyncSession, name: str) -> DefinitionSummary | None:
    """A metric's unit and default aggregation (all its readers need), without loading the entity."""
    rows = await driver_fetch(
        session,
        "select unit, aggregation from metric_definitions where tenant_id = $1 and name = $2",
        session_tenant(session),
        name,
    )
    return DefinitionSummary(*rows[0]) if rows else None


async def catalog(
    session: AsyncSession, *, limit: int, offset: int, names: Sequence[str] | None = None
) -> tuple[list[CatalogEntry], int]:
    tenant = session_tenant(session)
    where = "d.tenant_id = :tenant" + (" and d.name = any(:names)" if names is not None else "")
    params: dict[str, Any] = {"tenant": tenant, "limit": limit, "offset": offset, "names": list(names or [])}
    total = await session.scalar(text(f"select count(*) from metric_definitions d where {where}"), params)  # noqa: S608
    params.update(earliest=EARLIEST_TS, latest=LATEST_TS)
    rows = await session.execute(
        text(
            "select d.name, d.unit, d.description, d.aggregation, s.first_ts, s.last_ts, s.points "  # noqa: S608
            "from metric_definitions d left join lateral ("
            "  select min(ts) as first_ts, max(ts) as last_ts, count(*) as points from business_metrics m "
            "  where m.tenant_id = d.tenant_id and m.metric = d.name and m.ts >= :earliest and m.ts < :latest"
            ") s on true "
            f"where {where} order by d.name limit :limit offset :offset"
        ),
        params,
    )
    entries = [
        CatalogEntry(r.name, r.unit, r.description, r.aggregation, r.first_ts, r.last_ts, int(r.points or 0))
        for r in rows
    ]
    return entries, int(total or 0)


class RollupRow(asyncpg.Record):
    """One rollup row: ``(bucket, group_value, value, points)``, also readable by name."""

    @property
    def bucket(self) -> datetime:
        return cast(datetime, self[0])

    @property
    def group_value(self) -> str | None:
        return cast(str | None, self[1])

    @property
    def value(self) -> float:
        # Never null: every group holds at least one point, and values are NOT NULL.
        return cast(float, self[2])

    @property
    def points(self) -> int:
        return cast(int, self[3])


@dataclass(frozen=True)
class PointFilter:
    metric: str
    start: datetime | None
    end: datetime | None
    dimensions: dict[str, str]


_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([a-z_]\w*)")


def _positional(statement: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` parameters (SQLAlchemy's style) as asyncpg's ``$n``, with their values in order."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        order.setdefault(name, len(order) + 1)
        return f"${order[name]}"

    converted = _NAMED_PARAMETER.sub(number, statement)
    return converted, [params[name] for name in order]


def _where(filters: PointFilter) -> tuple[str, dict[str, Any]]:
    # Always inside the supported range: rows stored outside it before the rule existed (year 1,
    # year 20000) would not even decode into a Python datetime, so no read may return them.
    clauses = ["tenant_id = :tenant", "metric = :metric", "ts >= :earliest", "ts < :latest"]
    params: dict[str, Any] = {"metric": filters.metric, "earliest": EARLIEST_TS, "latest": LATEST_TS}
    if filters.start is not None:
        clauses.append("ts >= :start")
        params["start"] = filters.start
    if filters.end is not None:
        clauses.append("ts < :end")
        params["end"] = filters.end
    if filters.dimensions:
        clauses.append("dimensions @> cast(:dimensions as jsonb)")
        params["dimensions"] = json.dumps(filters.dimensions)
    return " and ".join(clauses), params


async def raw_points(
    session: AsyncSession, filters: PointFilter, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    where, params = _where(filters)
    params.update(tenant=session_tenant(session), limit=limit, offset=offset)
    total = await session.scalar(text(f"select count(*) from business_metrics where {where}"), params)  # noqa: S608
    rows = await session.execute(
        text(
            "select ts, value, dimensions, source from business_metrics "  # noqa: S608
            f"where {where} order by ts, dimensions_key limit :limit offset :offset"
        ),
        params,
    )
    return list(rows), int(total or 0)


async def rollup(
    session: AsyncSession,
    filters: PointFilter,
    *,
    bucket: Bucket,
    aggregation: str,
    zone: str,
    group_by: str | None,
) -> list[RollupRow]:
    """Tuples of (bucket, group_value, value, points) ordered by group then bucket (value is a
    float8, so a float or None)."""
    where, params = _where(filters)
    params["tenant"] = session_tenant(session)
    if bucket.unit is not None:
        bucket_sql = "date_trunc(:unit, ts, :zone)"
        params.update(unit=bucket.unit, zone=zone)
    else:
        bucket_sql = "date_bin(:interval, ts, :origin)"
        params.update(interval=bucket.interval, origin=FIXED_ORIGIN)
    group_sql = "dimensions ->> :group_key" if group_by else "null::text"
    if group_by:
        params["group_key"] = group_by
    statement, args = _positional(
        f"select {bucket_sql} as bucket, {group_sql} as group_value, "  # noqa: S608
        f"{_AGGREGATE_SQL[aggregation]} as value, count(*) as points "
        f"from business_metrics where {where} group by 1, 2 order by 2 nulls first, 1",
        params,
    )
    # Straight to the driver: a rollup can return thousands of rows.
    return await driver_fetch(session, statement, *args, record_class=RollupRow)


async def data_range(session: AsyncSession, filters: PointFilter) -> tuple[datetime | None, datetime | None]:
    where, params = _where(filters)
    params["tenant"] = session_tenant(session)
    row = (
        await session.execute(text(f"select min(ts), max(ts) from business_metrics where {where}"), params)  # noqa: S608
    ).one()
    return row[0], row[1]


async def delete_points(session: AsyncSession, filters: PointFilter) -> int:
    statement = delete(BusinessMetric).where(
        BusinessMetric.tenant_id == session_tenant(session), BusinessMetric.metric == filters.metric
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
        BusinessMetric.tenant_id == session_tenant(session),
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
            MetricDefinition.tenant_id == session_tenant(session), MetricDefinition.name == name
        )
    )


async def metric_exists(session: AsyncSession, name: str) -> bool:
    statement = select(func.count()).where(
        MetricDefinition.tenant_id == session_tenant(session), MetricDefinition.name == name
    )
    return bool(await session.scalar(statement))
