"""Metrics rules: all-or-nothing ingest, the catalog, rollups with time zones and gap filling."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import Conflict, NotFound, ValidationFailed
from backend.services.metrics import reader, repository
from backend.services.metrics.buckets import Bucket, FilledValue, bucket_starts, fill_gaps
from backend.services.metrics.points import (
    TIMESTAMP_RANGE_TEXT,
    Point,
    default_aggregation,
    out_of_range_indexes,
)
from backend.services.metrics.rates import converted_rollup
from backend.services.metrics.reader import MetricDefinitionInfo, MetricQuery, Sources
from backend.services.metrics.repository import CatalogEntry
from backend.services.metrics.types import MAX_BATCH_POINTS as MAX_BATCH_POINTS
from backend.services.metrics.upload import ParsedUpload, file_rows, parse_in_chunks
from backend.utils.database import driver_fetch, session_tenant
from backend.utils.repository import PageWindow

MAX_UPLOAD_ROWS = 200_000
MAX_UPLOAD_POINTS = 1_000_000
MAX_REPORTED_POINTS = 100


@dataclass(frozen=True)
class IngestResult:
    received: int
    inserted: int
    updated: int
    unchanged: int
    duplicates_in_batch: int
    metrics: list[str]


@dataclass(frozen=True)
class Series:
    group: str | None
    values: list[FilledValue]


async def ingest_points(session: AsyncSession, points: Sequence[Point], *, source: str) -> IngestResult:
    """Write validated points idempotently: the same (metric, ts, dimensions) updates, never duplicates;
    within a batch the last of repeated points wins.

    Runs in the caller's transaction, so a failure leaves nothing written. Every write path (the
    API, uploads, connector syncs) comes through here, so here the timestamp range is enforced.
    """
    await _check_timestamps(points)
    metrics = sorted({point.metric for point in points})
    await check_sources(session, metrics, source)
    counts = await repository.upsert_points(
        session, points, source, {name: default_aggregation(name) for name in metrics}
    )
    return IngestResult(
        received=len(points),
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unique - counts.inserted - counts.updated,
        duplicates_in_batch=len(points) - counts.unique,
        metrics=metrics,
    )


class SourceConflict(Conflict):
    """A source writing a metric that other sources already feed, outside the metric's rule."""

    code = "source_conflict"


async def check_sources(session: AsyncSession, metrics: Sequence[str], source: str) -> None:
    """Refuse (409, nothing written) a write by ``source`` to a metric that already has points of
    another source unless the definition lists ``source``: two sources are never summed silently."""
    clashes = await repository.source_clashes(session, metrics, source)
    if not clashes:
        return
    first = clashes[0]
    existing = ", ".join(repr(s) for s in first.existing)
    priority = json.dumps([*first.existing, source])
    raise SourceConflict(
        f"metric {first.metric!r} already has points from {existing}, and its definition does not "
        f"list {source!r}; nothing was written. Say how the sources combine with PUT "
        f'/api/v1/metrics/{first.metric} and {{"sources": {{"rule": "priority", "priority": {priority}}}}} '
        '(one source of truth, in that order) or "rule": "additive" if they really add up; or write '
        "these points under another metric name (map the connector's field to another metric).",
        context={
            "metric": first.metric,
            "source": source,
            "existing_sources": first.existing,
            "conflicting_metrics": [clash.metric for clash in clashes],
        },
    )


async def _check_timestamps(points: Sequence[Point]) -> None:
    if len(points) > repository.INLINE_ENCODE_POINTS:
        bad = await asyncio.to_thread(out_of_range_indexes, points, MAX_REPORTED_POINTS)
    else:
        bad = out_of_range_indexes(points, MAX_REPORTED_POINTS)
    if bad:
        raise ValidationFailed(
            f"point timestamps must lie {TIMESTAMP_RANGE_TEXT}; nothing was written",
            context={"point_indexes": bad},
        )


async def replace_source_points(
    session: AsyncSession,
    points: Sequence[Point],
    *,
    source: str,
    periods: Sequence[tuple[Sequence[str], datetime, datetime]],
) -> IngestResult:
    """Like ``ingest_points``, but first remove what ``source`` wrote for the given metrics in each
    ``[start, end)`` period, so points the source no longer reports there are gone too. The
    source rule is checked first: a refused write removes nothing either."""
    await check_sources(session, sorted({point.metric for point in points}), source)
    for metrics, start, end in periods:
        await repository.delete_source_points(session, source, metrics, start, end)
    return await ingest_points(session, points, source=source)


def parse_upload(
    stream: IO[bytes],
    *,
    filename: str,
    zone: ZoneInfo,
    layout: str,
    dimensions: Sequence[str] | None = None,
    max_rows: int | None = None,
    max_points: int | None = None,
) -> ParsedUpload:
    """CPU-bound: call it in a worker thread. Limits default to the synchronous upload's."""
    chunks = parse_in_chunks(
        file_rows(stream, filename),
        zone=zone,
        layout=layout,
        max_rows=MAX_UPLOAD_ROWS if max_rows is None else max_rows,
        max_points=MAX_UPLOAD_POINTS if max_points is None else max_points,
        dimensions=dimensions,
    )
    return deque(chunks, maxlen=1).pop()  # without chunk_rows it yields once, at the end


def parse_upload_chunks(
    stream: IO[bytes],
    *,
    filename: str,
    zone: ZoneInfo,
    layout: str,
    dimensions: Sequence[str] | None,
    max_rows: int,
    max_points: int,
    chunk_rows: int,
) -> Iterator[ParsedUpload]:
    """``parse_upload`` a chunk of ``chunk_rows`` data rows at a time (see ``parse_in_chunks``);
    each step is CPU-bound: run it in a worker thread."""
    return parse_in_chunks(
        file_rows(stream, filename),
        zone=zone,
        layout=layout,
        max_rows=max_rows,
        max_points=max_points,
        dimensions=dimensions,
        chunk_rows=chunk_rows,
    )


async def declare_metric(session: AsyncSession, name: str, changes: dict[str, Any]) -> CatalogEntry:
    """Create or update a definition: ``changes`` maps definition columns to their new values
    (columns left out keep theirs; a new metric's aggregation defaults from its name)."""
    unknown = set(changes) - set(repository.DEFINITION_FIELDS)
    if unknown:
        fields = sorted(unknown)
        raise ValidationFailed(f"unknown definition fields {fields}", context={"fields": fields})
    aggregation = changes.get("aggregation") or default_aggregation(name)
    if "aggregation" in changes:
        changes = {**changes, "aggregation": aggregation}
    await repository.upsert_definition(session, name, aggregation=aggregation, changes=changes)
    entries, _ = await repository.catalog(session, PageWindow(1), names=[name])
    return entries[0]


async def list_catalog(session: AsyncSession, window: PageWindow) -> tuple[list[CatalogEntry], int]:
    return await repository.catalog(session, window)


async def get_catalog_entry(session: AsyncSession, name: str) -> CatalogEntry:
    entries, _ = await repository.catalog(session, PageWindow(1), names=[name])
    if not entries:
        raise NotFound(f"Metric {name!r} not found", context={"metric": name})
    return entries[0]


async def require_definition(session: AsyncSession, name: str) -> MetricDefinitionInfo:
    """The metric's definition (a primary-key lookup; no point counts), or 404."""
    found = await reader.definition(session, name)
    if found is None:
        raise NotFound(f"Metric {name!r} not found", context={"metric": name})
    return found


async def raw_points(
    session: AsyncSession, filters: MetricQuery, *, limit: int, offset: int
) -> reader.ObservationsResult:
    return await reader.observations(session, filters, limit=limit, offset=offset)


@dataclass(frozen=True)
class RollupPage:
    series: list[Series]
    start: datetime | None
    end: datetime | None
    total: int  # (group, bucket) rows in the whole rollup; the page holds at most ``limit``
    sources: Sources
    currency: str | None = None  # the currency of the values (None: not money)
    converted: bool = False  # True when any point of the answer was in another currency


@dataclass(frozen=True)
class CurrencyPlan:
    """How a rollup reads money: ``convert`` through the exchange rates into ``to`` (None: the
    points' own single currency), or plainly, the values being in ``to`` already."""

    convert: bool
    to: str | None


# The tenant's reporting currency, and the currencies points of the metric name in a `currency`
# dimension: a skip scan of the primary key's distinct (source, dimensions_key) prefixes, so it
# costs one index probe per dimension combination, not one per point.
_CURRENCY_CHECK = """
with recursive combination as (
    (select source, dimensions_key from business_metrics
     where tenant_id = $1 and metric = $2 order by source, dimensions_key limit 1)
    union all
    select next.source, next.dimensions_key from combination c cross join lateral (
        select b.source, b.dimensions_key from business_metrics b
        where b.tenant_id = $1 and b.metric = $2
            and (b.source, b.dimensions_key) > (c.source, c.dimensions_key)
        order by b.source, b.dimensions_key limit 1
    ) next
)
select (select reporting_currency from tenants where id = $1) as reporting,
    array(
        select distinct upper(dimensions_key::jsonb ->> 'currency') from combination
        where dimensions_key like '%"currency":%'
    ) as tagged
"""


async def currency_plan(
    session: AsyncSession, definition: MetricDefinitionInfo, requested: str | None
) -> CurrencyPlan:
    """How a rollup of ``definition``'s metric reads money (one query unless ``requested``).

    The target is ``requested``, else the tenant's reporting currency for a money metric, else
    the definition's currency (``rates.target_currency``'s rule). Conversion happens when points
    may be in another currency than the target: the definition's currency differs from it, or
    points name another in a ``currency`` dimension. Without any target, points naming two
    currencies read through the conversion too, which refuses to add them (``mixed_currencies``);
    points of a metric that is not money (no definition currency) read plainly.
    """
    if requested is not None:
        return CurrencyPlan(convert=True, to=requested)
    (row,) = await driver_fetch(session, _CURRENCY_CHECK, session_tenant(session), definition.name)
    tagged = set(row["tagged"])
    if definition.currency is None:
        target = row["reporting"] if tagged else None  # not money unless its points say so
        return CurrencyPlan(convert=target is not None or len(tagged) > 1, to=target)
    target = row["reporting"] or definition.currency
    if target != definition.currency or tagged - {target}:
        return CurrencyPlan(convert=True, to=target)
    return CurrencyPlan(convert=False, to=definition.currency)


@dataclass(frozen=True)
class RollupRequest:
    """One rollup: which points, in which buckets of which zone, aggregated how, grouped by which
    dimension, with gaps filled how; ``limit``/``offset`` page the rows (None: every row)."""

    filters: MetricQuery
    bucket: Bucket
    aggregation: str
    zone: ZoneInfo
    group_by: str | None
    fill: str
    limit: int | None = None
    offset: int = 0


async def rollup(
    session: AsyncSession, ask: RollupRequest
) -> tuple[list[Series], datetime | None, datetime | None]:
    """Aggregated series (one per group) and the range they cover."""
    page = await rollup_page(session, ask)
    return page.series, page.start, page.end


async def rollup_page(
    session: AsyncSession, ask: RollupRequest, currency: CurrencyPlan | None = None
) -> RollupPage:
    """Aggregated series (one per group), the range they cover, and one page of their rows
    (ordered by group, then bucket) when ``ask.limit`` is given; read in ``currency.to`` through
    the exchange rates when ``currency.convert``."""
    if currency is not None and currency.convert:
        return await _converted_page(session, ask, to=currency.to)
    page = await _plain_page(session, ask)
    return replace(page, currency=currency.to) if currency is not None else page


async def _converted_page(session: AsyncSession, ask: RollupRequest, *, to: str | None) -> RollupPage:
    """The rollup converted by ``rates.converted_rollup`` over the sources the rule chose."""
    filters = ask.filters
    found = await reader.data_range(session, filters)
    if not found.sources.used:
        return RollupPage([], filters.start, filters.end, 0, found.sources, currency=to)
    result = await converted_rollup(
        session,
        metric=filters.metric,
        sources=found.sources.used,
        start=filters.start,
        end=filters.end,
        bucket=ask.bucket,
        zone=ask.zone,
        to=to,
        aggregation=ask.aggregation,
        dimensions=filters.dimensions,
        group_by=ask.group_by,
    )
    start, end = filters.start, filters.end
    starts: list[datetime] = []
    if ask.fill != "none":
        start = start or found.first
        end = end or (found.last + timedelta(microseconds=1) if found.last is not None else None)
        if start is not None and end is not None:
            starts = bucket_starts(ask.bucket, start, end, ask.zone)
    series, total = _filled_series(result.rows, starts, ask.fill)
    return RollupPage(
        _page(series, ask.limit, ask.offset),
        start,
        end,
        total,
        found.sources,
        currency=result.currency,
        converted=result.converted,
    )


async def _plain_page(session: AsyncSession, ask: RollupRequest) -> RollupPage:
    filters, zone = ask.filters, ask.zone.key
    if ask.fill == "none":
        # Rows arrive ordered by group, then bucket, paged by the database: nothing to fill.
        result = await reader.series(
            session,
            filters,
            bucket=ask.bucket,
            aggregation=ask.aggregation,
            zone=zone,
            group_by=ask.group_by,
            limit=ask.limit,
            offset=ask.offset,
        )
        series = [
            Series(group, [FilledValue(row[0], row[2], row[3], False) for row in group_rows])
            for group, group_rows in groupby(result.rows, key=itemgetter(1))
        ]
        return RollupPage(series, filters.start, filters.end, result.total, result.sources)
    result = await reader.series(
        session, filters, bucket=ask.bucket, aggregation=ask.aggregation, zone=zone, group_by=ask.group_by
    )
    start, end = await _filled_range(session, filters, result.sources)
    if start is None or end is None:  # no data at all
        return RollupPage([], start, end, 0, result.sources)
    filled, total = _filled_series(result.rows, bucket_starts(ask.bucket, start, end, ask.zone), ask.fill)
    return RollupPage(_page(filled, ask.limit, ask.offset), start, end, total, result.sources)


def _filled_series(
    rows: Sequence[Sequence[Any]], starts: list[datetime], fill: str
) -> tuple[list[Series], int]:
    """Rows ``(bucket, group, value, points)`` as one series per group with the gaps of ``starts``
    filled by ``fill``, and how many values they hold together."""
    observed: dict[str | None, dict[datetime, tuple[float | None, int]]] = defaultdict(dict)
    for bucket_start, group, value, points, *_ in rows:
        observed[group][bucket_start] = (value, points)
    series = [
        Series(group, fill_gaps(observed.get(group, {}), starts, fill))
        for group in (list(observed) or ([None] if starts else []))
    ]
    return series, sum(len(s.values) for s in series)


async def _filled_range(
    session: AsyncSession, filters: MetricQuery, sources: Sources
) -> tuple[datetime | None, datetime | None]:
    start, end = filters.start, filters.end
    if start is None or end is None:
        # The range of the very sources the rollup read (explicitly, so the rule picks no other).
        found = await reader.data_range(
            session, replace(filters, source=sources.used[0]) if len(sources.used) == 1 else filters
        )
        start = start or found.first
        # Exclusive end just past the last point, so the bucket holding it is included.
        end = end or (found.last + timedelta(microseconds=1) if found.last is not None else None)
    return start, end


def _page(series: list[Series], limit: int | None, offset: int) -> list[Series]:
    """The rows ``[offset, offset + limit)`` of the series taken one after the other."""
    if limit is None:
        return series
    page: list[Series] = []
    skip, room = offset, limit
    for one in series:
        values = one.values[skip : skip + room]
        skip = max(0, skip - len(one.values))
        if values:
            page.append(Series(one.group, values))
            room -= len(values)
        if room == 0:
            break
    return page


async def delete_metric(session: AsyncSession, filters: MetricQuery) -> int:
    await require_definition(session, filters.metric)
    deleted = await repository.delete_points(session, filters)
    if filters.start is None and filters.end is None:
        await repository.delete_definition(session, filters.metric)
    return deleted
