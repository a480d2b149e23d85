"""The one read path of ``business_metrics``: every feature reads metric points through here.

Reads: ``series`` (bucketed rollup: calendar buckets in a time zone, or fixed intervals),
``aggregate`` (one number over a window), ``count``, ``observations`` (raw points, paged)
and ``data_range``. One aggregation vocabulary (``AGGREGATIONS``: sum, avg, min, max, count,
last).

Every read applies the metric definition's **source rule**:

- ``priority``: exactly one source, the first of ``source_priority`` that has a point in the
  requested window (sources with data that the list does not name come after it, by name);
- ``additive``: the listed sources (all of them when the list is empty) are summed as they
  are: points of the same instant and dimensions add up before the aggregation runs.

``MetricQuery.source`` reads one source explicitly. Each result carries ``sources`` (the rule
applied, ``used``, and ``available``: every source with a point in the window).

Two statements per read: a handful of index probes that find the window's sources, then the
read itself restricted to the chosen ones (``source = any($n)``, served by the primary key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.metrics.buckets import FIXED_ORIGIN, Bucket
from backend.services.metrics.points import EARLIEST_TS, LATEST_TS, NO_DIMENSIONS
from backend.utils.database import driver_fetch, session_tenant

Aggregation = Literal["sum", "avg", "min", "max", "count", "last"]
# ``aggregate`` also gives the sample standard deviation (the optimizer's "stddev").
Statistic = Literal["sum", "avg", "min", "max", "count", "last", "stddev"]
SourceRule = Literal["priority", "additive"]

_STATISTIC_SQL: dict[str, str] = {
    "sum": "sum(value)",
    "avg": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "{points}::float8",
    "last": "(array_agg(value order by ts desc))[1]",
    "stddev": "stddev_samp(value)",
}


@dataclass(frozen=True)
class MetricQuery:
    """Which points a read covers: ``[start, end)`` (either open), dimensions containing
    ``dimensions``; ``source`` reads that one source instead of applying the rule."""

    metric: str
    start: datetime | None = None
    end: datetime | None = None
    dimensions: Mapping[str, str] = field(default_factory=lambda: NO_DIMENSIONS)
    source: str | None = None


@dataclass(frozen=True)
class Sources:
    """How a read chose its sources: ``used`` were read, ``available`` have data in the window."""

    rule: str
    used: tuple[str, ...]
    available: tuple[str, ...]


@dataclass(frozen=True)
class MetricDefinitionInfo:
    """What a metric means, as declared (or defaulted) in its definition."""

    name: str
    unit: str | None
    description: str | None
    aggregation: str
    currency: str | None
    favourable_direction: Literal["up", "down"] | None
    non_negative: bool | None
    display_format: str | None
    source_rule: SourceRule
    source_priority: tuple[str, ...]


class SeriesRow(asyncpg.Record):
    """One bucket of a rollup: ``(bucket, group_value, value, points)``, also readable by name."""

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
class SeriesResult:
    rows: list[SeriesRow]  # ordered by group (nulls first), then bucket
    total: int  # rows before limit/offset
    sources: Sources


@dataclass(frozen=True)
class AggregateResult:
    value: float | None  # None when the window holds no point
    points: int
    sources: Sources


@dataclass(frozen=True)
class Observation:
    ts: datetime  # an aware instant, or the local wall-clock time when read with a zone
    value: float
    dimensions: dict[str, str]
    source: str


@dataclass(frozen=True)
class ObservationsResult:
    rows: list[Observation]
    total: int
    sources: Sources


@dataclass(frozen=True)
class DataRange:
    first: datetime | None
    last: datetime | None
    sources: Sources


class _Args:
    """Positional ``$n`` parameters for asyncpg, numbered as they are added."""

    def __init__(self, *initial: Any) -> None:
        self.values: list[Any] = list(initial)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _window_sql(query: MetricQuery, args: _Args, alias: str = "") -> str:
    """The window's conditions; ``args`` starts with (tenant, metric) as $1, $2. Always inside
    the supported range: rows stored outside it before the rule existed would not even decode
    into Python datetimes (see ``points.EARLIEST_TS``)."""
    column = f"{alias}." if alias else ""
    clauses = [
        f"{column}tenant_id = $1",
        f"{column}metric = $2",
        f"{column}ts >= {args.add(EARLIEST_TS)}",
        f"{column}ts < {args.add(LATEST_TS)}",
    ]
    if query.start is not None:
        clauses.append(f"{column}ts >= {args.add(query.start)}")
    if query.end is not None:
        clauses.append(f"{column}ts < {args.add(query.end)}")
    if query.dimensions:
        clauses.append(f"{column}dimensions @> {args.add(json.dumps(dict(query.dimensions)))}::jsonb")
    return " and ".join(clauses)


# The metric's distinct sources by a loose scan of the primary key (tenant, metric, source, …):
# one index probe per source, however many points each holds.
_KNOWN_SOURCES = """
with recursive known(source) as (
    select min(source) from business_metrics where tenant_id = $1 and metric = $2
    union all
    select (select min(b.source) from business_metrics b
            where b.tenant_id = $1 and b.metric = $2 and b.source > known.source)
    from known where known.source is not null
)
"""


async def _sources(session: AsyncSession, query: MetricQuery) -> Sources:
    args = _Args(session_tenant(session), query.metric)
    window = _window_sql(query, args, alias="w")
    # Composed from constant fragments; every value is a parameter.
    statement = (
        f"{_KNOWN_SOURCES} select d.source_rule, d.source_priority::text as priority, "  # noqa: S608
        "array(select k.source from known k cross join lateral ("
        f"  select 1 from business_metrics w where w.source = k.source and {window} limit 1"
        ") hit where k.source is not null order by k.source) as available "
        "from (select 1) one left join metric_definitions d on d.tenant_id = $1 and d.name = $2"
    )
    rows = await driver_fetch(session, statement, *args.values)
    rule = rows[0]["source_rule"] or "priority"
    priority: list[str] = json.loads(rows[0]["priority"]) if rows[0]["priority"] else []
    available: list[str] = list(rows[0]["available"])
    return Sources(rule, choose_sources(rule, priority, available, query.source), tuple(available))


def choose_sources(
    rule: str, priority: Sequence[str], available: Sequence[str], explicit: str | None
) -> tuple[str, ...]:
    """The source rule itself (pure): which of the window's ``available`` sources a read uses."""
    if explicit is not None:
        return (explicit,)
    if rule == "additive":
        listed = [source for source in available if source in priority]
        return tuple(listed if priority else available)
    ordered = [*[s for s in priority if s in available], *sorted(s for s in available if s not in priority)]
    return (ordered[0],) if ordered else ()


@dataclass(frozen=True)
class _Relation:
    sql: str  # a FROM item with columns ts, value, dimensions
    points: str  # the expression counting the source points in a group of it


def _points_sql(query: MetricQuery, sources: Sources, args: _Args) -> _Relation:
    """The points of the chosen sources. Summed sources add up per (instant, dimensions) first,
    so avg/min/max/last see the combined value; one source reads the table as it is."""
    where = _window_sql(query, args)
    if len(sources.used) == 1:
        where += f" and source = {args.add(sources.used[0])}"
        return _Relation(f"(select ts, value, dimensions from business_metrics where {where}) p", "count(*)")  # noqa: S608
    where += f" and source = any({args.add(list(sources.used))}::text[])"
    return _Relation(
        "(select ts, sum(value) as value, min(dimensions::text)::jsonb as dimensions, "  # noqa: S608
        f"count(*) as n from business_metrics where {where} group by ts, dimensions_key) p",
        "sum(n)",
    )


def _statistic_sql(statistic: str, relation: _Relation) -> str:
    return _STATISTIC_SQL[statistic].format(points=relation.points)


async def series(
    session: AsyncSession,
    query: MetricQuery,
    *,
    bucket: Bucket,
    aggregation: str,
    zone: str,
    group_by: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> SeriesResult:
    """``aggregation`` of the points per bucket (and per value of the ``group_by`` dimension),
    ordered by group then bucket; ``limit``/``offset`` page the rows, ``total`` counts them all."""
    sources = await _sources(session, query)
    if not sources.used:
        return SeriesResult([], 0, sources)
    args = _Args(session_tenant(session), query.metric)
    relation = _points_sql(query, sources, args)
    if bucket.unit is not None:
        bucket_sql = f"date_trunc({args.add(bucket.unit)}, ts, {args.add(zone)})"
    else:
        bucket_sql = f"date_bin({args.add(bucket.interval)}, ts, {args.add(FIXED_ORIGIN)})"
    group_sql = f"dimensions ->> {args.add(group_by)}" if group_by else "null::text"
    grouped = (
        f"select {bucket_sql} as bucket, {group_sql} as group_value, "  # noqa: S608
        f"{_statistic_sql(aggregation, relation)} as value, {relation.points}::bigint as points "
        f"from {relation.sql} group by 1, 2"
    )
    paging = f" limit {args.add(limit)} offset {args.add(offset)}" if limit is not None else ""
    statement = f"{grouped} order by 2 nulls first, 1{paging}"
    rows = await driver_fetch(session, statement, *args.values, record_class=SeriesRow)
    if limit is None:
        total = len(rows)
    elif len(rows) < limit and (rows or offset == 0):
        total = offset + len(rows)  # the last page: nothing lies beyond it
    else:  # a full page, or one past the end: count every row (a second, cheaper statement)
        counted = await driver_fetch(session, f"select count(*) from ({grouped}) g", *args.values[:-2])  # noqa: S608
        total = int(counted[0][0])
    return SeriesResult(rows, total, sources)


async def aggregate(session: AsyncSession, query: MetricQuery, statistic: str) -> AggregateResult:
    """One number over the window (``statistic``: an aggregation, or ``stddev``)."""
    sources = await _sources(session, query)
    if not sources.used:
        return AggregateResult(None, 0, sources)
    args = _Args(session_tenant(session), query.metric)
    relation = _points_sql(query, sources, args)
    rows = await driver_fetch(
        session,
        f"select {_statistic_sql(statistic, relation)} as value, "  # noqa: S608
        f"coalesce({relation.points}, 0)::bigint as points from {relation.sql}",
        *args.values,
    )
    points = int(rows[0]["points"])
    value = rows[0]["value"]
    return AggregateResult(float(value) if points and value is not None else None, points, sources)


async def count(session: AsyncSession, query: MetricQuery) -> AggregateResult:
    """How many points the rule reads in the window (``value`` is that count too)."""
    result = await aggregate(session, query, "count")
    return AggregateResult(float(result.points), result.points, result.sources)


async def observations(
    session: AsyncSession,
    query: MetricQuery,
    *,
    limit: int | None,
    offset: int = 0,
    zone: str | None = None,
) -> ObservationsResult:
    """Raw points of the chosen sources, oldest first (``limit`` None: all of them). With
    ``zone``, ``ts`` is the local wall-clock time there (naive), converted by the database."""
    sources = await _sources(session, query)
    if not sources.used:
        return ObservationsResult([], 0, sources)
    args = _Args(session_tenant(session), query.metric)
    where = f"{_window_sql(query, args)} and source = any({args.add(list(sources.used))}::text[])"
    ts_sql = f"timezone({args.add(zone)}, ts)" if zone else "ts"
    paging = f" limit {args.add(limit)} offset {args.add(offset)}" if limit is not None else ""
    rows = await driver_fetch(
        session,
        f"select {ts_sql} as ts, value, dimensions::text as dimensions, source, "  # noqa: S608
        f"count(*) over () as total from business_metrics where {where} "
        f"order by ts, source, dimensions_key{paging}",
        *args.values,
    )
    result = [Observation(r["ts"], float(r["value"]), json.loads(r["dimensions"]), r["source"]) for r in rows]
    if rows:
        total = int(rows[0]["total"])
    elif offset and limit is not None:
        total = (await count(session, query)).points
    else:
        total = 0
    return ObservationsResult(result, total, sources)


async def data_range(session: AsyncSession, query: MetricQuery) -> DataRange:
    """The first and last timestamp the rule reads in the window."""
    sources = await _sources(session, query)
    if not sources.used:
        return DataRange(None, None, sources)
    args = _Args(session_tenant(session), query.metric)
    relation = _points_sql(query, sources, args)
    rows = await driver_fetch(session, f"select min(ts), max(ts) from {relation.sql}", *args.values)  # noqa: S608
    return DataRange(rows[0][0], rows[0][1], sources)


_DEFINITION = (
    "select name, unit, description, aggregation, currency, favourable_direction, non_negative, "
    "display_format, source_rule, source_priority::text as source_priority "
    "from metric_definitions where tenant_id = $1 and name = $2"
)


async def definition(session: AsyncSession, name: str) -> MetricDefinitionInfo | None:
    """The metric's definition (a primary-key lookup), or None when the tenant has no such metric."""
    rows = await driver_fetch(session, _DEFINITION, session_tenant(session), name)
    if not rows:
        return None
    row = rows[0]
    return MetricDefinitionInfo(
        name=row["name"],
        unit=row["unit"],
        description=row["description"],
        aggregation=row["aggregation"],
        currency=row["currency"],
        favourable_direction=row["favourable_direction"],
        non_negative=row["non_negative"],
        display_format=row["display_format"],
        source_rule=row["source_rule"],
        source_priority=tuple(json.loads(row["source_priority"])),
    )
