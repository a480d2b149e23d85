"""Metrics rules: all-or-nothing ingest, the catalog, rollups with time zones and gap filling."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import NotFound, ValidationFailed
from backend.services.metrics import repository
from backend.services.metrics.buckets import Bucket, FilledValue, bucket_starts, fill_gaps
from backend.services.metrics.points import (
    TIMESTAMP_RANGE_TEXT,
    Point,
    default_aggregation,
    out_of_range_indexes,
)
from backend.services.metrics.repository import CatalogEntry, DefinitionSummary, PointFilter
from backend.services.metrics.upload import ParsedUpload, csv_rows, parse_rows, xlsx_rows

MAX_BATCH_POINTS = 10_000
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


async def _check_timestamps(points: Sequence[Point]) -> None:
    if len(points) > repository.INLINE_ENCODE_POINTS:
        bad = await asyncio.to_thread(out_of_range_indexes, points, MAX_REPORTED_POINTS)
    else:
        bad = out_of_range_indexes(points, MAX_REPORTED_POINTS)
    if bad:
        raise ValidationFailed(
            f"point timestamps must lie {TIMESTAMP_RANGE_TEXT}; nothing was written",
            details={"point_indexes": bad},
        )


async def replace_source_points(
    session: AsyncSession,
    points: Sequence[Point],
    *,
    source: str,
    periods: Sequence[tuple[Sequence[str], datetime, datetime]],
) -> IngestResult:
    """Like ``ingest_points``, but first remove what ``source`` wrote for the given metrics in each
    ``[start, end)`` period, so points the source no longer reports there are gone too."""
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
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        rows: Any = xlsx_rows(stream)
    elif lower.endswith((".csv", ".txt")) or "." not in lower:
        rows = csv_rows(stream)
    else:
        raise ValidationFailed("upload a .csv or .xlsx file", details={"filename": filename})
    return parse_rows(
        rows,
        zone=zone,
        layout=layout,
        max_rows=MAX_UPLOAD_ROWS if max_rows is None else max_rows,
        max_points=MAX_UPLOAD_POINTS if max_points is None else max_points,
        dimensions=dimensions,
    )


async def declare_metric(
    session: AsyncSession, name: str, *, unit: str | None, description: str | None, aggregation: str | None
) -> CatalogEntry:
    await repository.upsert_definition(
        session,
        name,
        unit=unit,
        description=description,
        aggregation=aggregation or default_aggregation(name),
    )
    entries, _ = await repository.catalog(session, limit=1, offset=0, names=[name])
    return entries[0]


async def list_catalog(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[CatalogEntry], int]:
    return await repository.catalog(session, limit=limit, offset=offset)


async def get_catalog_entry(session: AsyncSession, name: str) -> CatalogEntry:
    entries, _ = await repository.catalog(session, limit=1, offset=0, names=[name])
    if not entries:
        raise NotFound(f"Metric {name!r} not found", details={"metric": name})
    return entries[0]


async def require_definition(session: AsyncSession, name: str) -> DefinitionSummary:
    """The metric's unit and default aggregation (a primary-key lookup; no point counts)."""
    definition = await repository.get_definition(session, name)
    if definition is None:
        raise NotFound(f"Metric {name!r} not found", details={"metric": name})
    return definition


async def raw_points(
    session: AsyncSession, filters: PointFilter, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    return await repository.raw_points(session, filters, limit=limit, offset=offset)


async def rollup(
    session: AsyncSession,
    filters: PointFilter,
    *,
    bucket: Bucket,
    aggregation: str,
    zone: ZoneInfo,
    group_by: str | None,
    fill: str,
) -> tuple[list[Series], datetime | None, datetime | None]:
    """Aggregated series (one per group) and the range they cover."""
    agg = aggregation
    rows = await repository.rollup(
        session, filters, bucket=bucket, aggregation=agg, zone=zone.key, group_by=group_by
    )
    start, end = filters.start, filters.end
    if fill == "none":
        # Rows arrive ordered by group, then bucket: nothing to merge or fill.
        series = [
            Series(group, [FilledValue(row[0], row[2], row[3], False) for row in group_rows])
            for group, group_rows in groupby(rows, key=itemgetter(1))
        ]
        return series, start, end
    observed: dict[str | None, dict[datetime, tuple[float | None, int]]] = defaultdict(dict)
    for bucket_start, group, value, points in rows:
        observed[group][bucket_start] = (value, points)
    if start is None or end is None:
        first, last = await repository.data_range(session, filters)
        start = start or first
        # Exclusive end just past the last point, so the bucket holding it is included.
        end = end or (last + timedelta(microseconds=1) if last is not None else None)
    if start is None or end is None:  # no data at all
        return [], start, end
    starts = bucket_starts(bucket, start, end, zone)
    series = [
        Series(group, fill_gaps(observed.get(group, {}), starts, fill))
        for group in (list(observed) or [None])
    ]
    return series, start, end


async def delete_metric(session: AsyncSession, filters: PointFilter) -> int:
    await require_definition(session, filters.metric)
    deleted = await repository.delete_points(session, filters)
    if filters.start is None and filters.end is None:
        await repository.delete_definition(session, filters.metric)
    return deleted
