"""Business metrics: batch ingest, file upload, the catalog, queries and deletion."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import Response

from backend.dependencies import (
    MAX_OFFSET,
    AdminPrincipal,
    AnalystPrincipal,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
from backend.schemas.common import Page
from backend.schemas.metrics import (
    Aggregation,
    IngestRead,
    MetricBatchIn,
    MetricDefinitionIn,
    MetricDeleteRead,
    MetricQueryRead,
    MetricRead,
    MetricSourcesRead,
    UploadErrorRead,
    UploadPreviewPoint,
    UploadRead,
)
from backend.services.errors import PayloadTooLarge, ValidationFailed
from backend.services.metrics import service
from backend.services.metrics.buckets import FILL_MODES, MAX_BUCKETS, parse_bucket
from backend.services.metrics.points import (
    DIMENSION_KEY_PATTERN,
    METRIC_NAME_PATTERN,
    NO_DIMENSIONS,
    SOURCE_NAME_PATTERN,
    TIMESTAMP_RANGE_TEXT,
    Point,
    localize,
    out_of_range_indexes,
    timestamp_problem,
)
from backend.services.metrics.reader import MetricQuery, Sources
from backend.services.metrics.repository import CatalogEntry
from backend.services.tenant.service import tenant_zone
from backend.utils.error_handlers import error_responses
from backend.utils.responses import fast_json

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"], responses=error_responses(401, 422))

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PREVIEW_POINTS = 20
MAX_REPORTED_POINTS = 100
# The most rows (raw points, or rollup group x bucket rows) one response holds; page beyond it.
MAX_ROWS_PER_RESPONSE = MAX_BUCKETS
DEFAULT_RAW_LIMIT = 50
_NO_RAW_FIELDS = {"dimensions": None, "source": None}
_RANGE = f"Timestamps lie {TIMESTAMP_RANGE_TEXT}."
MetricPath = Annotated[str, Path(pattern=METRIC_NAME_PATTERN, description="Metric name.")]


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if name is None:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationFailed(f"unknown time zone {name!r}", details={"field": "tz"}) from error


def _filters(
    metric: str, start: datetime | None, end: datetime | None, dims: list[str], zone: ZoneInfo
) -> MetricQuery:
    dimensions: dict[str, str] = {}
    for item in dims:
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise ValidationFailed(
                f"dimension filter {item!r} must look like key:value", details={"field": "dim"}
            )
        dimensions[key] = value
    for field, bound in (("start", start), ("end", end)):
        problem = timestamp_problem(bound, exclusive_end=field == "end") if bound is not None else None
        if problem:
            raise ValidationFailed(f"{field}: {problem}", details={"field": field})
    start_ts = localize(start, zone) if start else None
    end_ts = localize(end, zone) if end else None
    if start_ts and end_ts and end_ts <= start_ts:
        raise ValidationFailed("end must be after start", details={"field": "end"})
    return MetricQuery(metric=metric, start=start_ts, end=end_ts, dimensions=dimensions)


def _check_point_times(points: list[Point]) -> None:
    """Every point's instant in the supported range, reported per point like pydantic's errors."""
    bad = out_of_range_indexes(points, limit=MAX_REPORTED_POINTS)
    if bad:
        message = f"timestamps must lie {TIMESTAMP_RANGE_TEXT}"
        raise ValidationFailed(
            "The request is not valid; see details.errors",
            details={
                "errors": [
                    {
                        "location": ["body", "points", str(i), "ts"],
                        "message": message,
                        "type": "timestamp_range",
                    }
                    for i in bad
                ]
            },
        )


def _catalog_read(entry: CatalogEntry) -> MetricRead:
    return MetricRead.model_validate(
        {
            **asdict(entry),
            "sources": MetricSourcesRead.model_validate(
                {"rule": entry.source_rule, "priority": entry.source_priority}
            ),
        }
    )


@router.post(
    "",
    response_model=IngestRead,
    summary="Ingest a batch of points (idempotent, all-or-nothing)",
    responses=error_responses(403, 413),
)
async def ingest_metrics(
    body: MetricBatchIn, session: TenantSession, principal: AnalystPrincipal
) -> IngestRead:
    """Up to 10,000 points. The same (metric, ts, dimensions) again updates the value. One invalid
    point rejects the whole batch with a 422 listing every bad point by index."""
    zone = await tenant_zone(session)
    points = [
        Point(p["metric"], localize(p["ts"], zone), p["value"], p.get("dimensions") or NO_DIMENSIONS)
        for p in body.points
    ]
    _check_point_times(points)
    result = await service.ingest_points(session, points, source=body.source)
    return IngestRead.model_validate(result, from_attributes=True)


@router.post(
    "/upload",
    response_model=UploadRead,
    summary="Upload a CSV or .xlsx file of points (dry run available)",
    description=(
        "Long layout `metric,timestamp,value[,dimension…]` or wide `date,<metric>,…`. Any bad row "
        "rejects the file with a 422 whose details list rows and reasons; nothing is written unless "
        f"every row is valid. At most {service.MAX_UPLOAD_ROWS:,} data rows and "
        f"{service.MAX_UPLOAD_POINTS:,} points (a wide row holds a point per metric column)."
    ),
    responses=error_responses(403, 413),
)
async def upload_metrics(
    session: TenantSession,
    principal: AnalystPrincipal,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or .xlsx, at most 20 MiB.")],
    dry_run: Annotated[bool, Form(description="Parse and validate only; write nothing.")] = False,
    layout: Annotated[Literal["auto", "long", "wide"], Form()] = "auto",
) -> UploadRead:
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"uploads are limited to {MAX_UPLOAD_BYTES} bytes", details={"limit_bytes": MAX_UPLOAD_BYTES}
        )
    zone = await tenant_zone(session)
    parsed = await asyncio.to_thread(
        service.parse_upload, file.file, filename=file.filename or "upload.csv", zone=zone, layout=layout
    )
    if parsed.error_count:
        raise ValidationFailed(
            f"{parsed.error_count} row problem(s); nothing was written",
            details={
                "errors": [
                    UploadErrorRead.model_validate(e, from_attributes=True).model_dump()
                    for e in parsed.errors
                ],
                "error_count": parsed.error_count,
                "rows_read": parsed.rows_read,
            },
        )
    if not parsed.points:
        raise ValidationFailed("the file has no data rows")
    result = None if dry_run else await service.ingest_points(session, parsed.points, source="upload")
    return UploadRead(
        dry_run=dry_run,
        layout=parsed.layout,
        rows_read=parsed.rows_read,
        points=len(parsed.points),
        metrics=result.metrics if result else sorted({p.metric for p in parsed.points}),
        preview=[
            UploadPreviewPoint(metric=p.metric, ts=p.ts, value=p.value, dimensions=dict(p.dimensions))
            for p in parsed.points[:PREVIEW_POINTS]
        ],
        result=IngestRead.model_validate(result, from_attributes=True) if result else None,
    )


@router.get("", response_model=Page[MetricRead], summary="The metric catalog")
async def list_metrics(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[MetricRead]:
    entries, total = await service.list_catalog(session, limit=page.limit, offset=page.offset)
    return Page(items=[_catalog_read(e) for e in entries], total=total, limit=page.limit, offset=page.offset)


_DEFINE_DESCRIPTION = (
    "Fields left out keep their stored value (null clears one). `sources` says how points of several "
    "sources combine on read: `priority` reads one source of truth, the first listed with data in "
    "the window; `additive` sums the listed sources. A source missing from the list cannot write "
    "the metric while another source has points (409 `source_conflict`)."
)


@router.put(
    "/{name}",
    response_model=MetricRead,
    summary="Declare or describe a metric (unit, currency, aggregation, direction, sources…)",
    description=_DEFINE_DESCRIPTION,
    responses=error_responses(403),
)
@router.put("/{name}/definition", response_model=MetricRead, include_in_schema=False)
async def define_metric(
    name: MetricPath, body: MetricDefinitionIn, session: TenantSession, principal: AnalystPrincipal
) -> MetricRead:
    entry = await service.declare_metric(session, name, body.changes())
    return _catalog_read(entry)


def _page_limit(limit: int | None, *, raw: bool) -> int:
    if limit is None:
        return DEFAULT_RAW_LIMIT if raw else MAX_ROWS_PER_RESPONSE
    if limit > MAX_ROWS_PER_RESPONSE:
        raise ValidationFailed(
            f"limit may be at most {MAX_ROWS_PER_RESPONSE:,} per response; page with offset",
            details={"field": "limit", "maximum": MAX_ROWS_PER_RESPONSE},
        )
    return limit


@router.get(
    "/{name}",
    response_model=MetricQueryRead,
    summary="Raw points, or a rollup by bucket (paged; the metric's source rule applies)",
    description=(
        f"Raw points (default page {DEFAULT_RAW_LIMIT}) or rollup rows (group x bucket, default and "
        f"maximum {MAX_ROWS_PER_RESPONSE:,}) page with `limit`/`offset`; `total` counts them all. "
        "Reads follow the metric's source rule (`sources_used`); `source=` reads one source."
    ),
    responses=error_responses(404),
)
async def query_metric(
    name: MetricPath,
    session: TenantSession,
    principal: CurrentPrincipal,
    bucket: Annotated[
        str | None,
        Query(description="hour, day, week, month, quarter, year, or e.g. '15 minutes'. Omit for raw."),
    ] = None,
    agg: Annotated[Aggregation | None, Query(description="Defaults to the metric's aggregation.")] = None,
    start: Annotated[
        datetime | None, Query(description=f"Inclusive; tenant time zone if no offset. {_RANGE}")
    ] = None,
    end: Annotated[datetime | None, Query(description=f"Exclusive. {_RANGE}")] = None,
    tz: Annotated[str | None, Query(description="IANA zone for calendar buckets; default: tenant's.")] = None,
    dim: Annotated[list[str], Query(description="Dimension filter key:value (repeatable).")] = [],  # noqa: B006
    group_by: Annotated[
        str | None, Query(pattern=DIMENSION_KEY_PATTERN, description="One dimension.")
    ] = None,
    fill: Annotated[
        Literal["none", "null", "zero", "previous"],
        Query(
            description=f"Gap filling for empty buckets; a filled range holds at most {MAX_BUCKETS:,} "
            "buckets."
        ),
    ] = "none",
    source: Annotated[
        str | None,
        Query(pattern=SOURCE_NAME_PATTERN, description="Read this source only, not the rule's choice."),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description=f"Page size, at most {MAX_ROWS_PER_RESPONSE:,}.")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
) -> Response:
    assert set(FILL_MODES) == {"none", "null", "zero", "previous"}
    page_limit = _page_limit(limit, raw=bucket is None)
    zone = _zone(tz, await tenant_zone(session))
    filters = replace(_filters(name, start, end, dim, zone), source=source)
    definition = await service.require_definition(session, name)
    # Plain data, written once by fast_json: a rollup can hold thousands of buckets, and a
    # model object per bucket plus the response model's validation tripled the request's work.
    # tests/routes/test_metrics.py validates these bodies against MetricQueryRead.
    body: dict[str, Any] = {
        "metric": name,
        "unit": definition.unit,
        "bucket": None,
        "aggregation": None,
        "timezone": zone.key,
        "start": filters.start,
        "end": filters.end,
        "group_by": None,
        "total": 0,
        "limit": page_limit,
        "offset": offset,
    }
    if bucket is None:
        raw = await service.raw_points(session, filters, limit=page_limit, offset=offset)
        points = [
            {
                "ts": r.ts,
                "value": r.value,
                "count": None,
                "filled": False,
                "dimensions": r.dimensions,
                "source": r.source,
            }
            for r in raw.rows
        ]
        body.update(total=raw.total, **_sources_body(raw.sources))
        return fast_json({**body, "series": [{"group": None, "points": points}]})
    parsed_bucket = parse_bucket(bucket)
    used_agg = agg or definition.aggregation
    page = await service.rollup_page(
        session,
        filters,
        bucket=parsed_bucket,
        aggregation=used_agg,
        zone=zone,
        group_by=group_by,
        fill=fill,
        limit=page_limit,
        offset=offset,
    )
    body.update(bucket=parsed_bucket.label, aggregation=used_agg, start=page.start, end=page.end)
    body.update(group_by=group_by, total=page.total, **_sources_body(page.sources))
    body["series"] = [
        {
            "group": s.group,
            "points": [
                {"ts": v.ts, "value": v.value, "count": v.count, "filled": v.filled, **_NO_RAW_FIELDS}
                for v in s.values
            ],
        }
        for s in page.series
    ]
    return fast_json(body)


def _sources_body(sources: Sources) -> dict[str, Any]:
    return {
        "source_rule": sources.rule,
        "sources_used": list(sources.used),
        "sources_available": list(sources.available),
    }


@router.delete(
    "/{name}",
    response_model=MetricDeleteRead,
    summary="Delete a metric, or its points in a time range (admin)",
    responses=error_responses(403, 404),
)
async def delete_metric(
    name: MetricPath,
    session: TenantSession,
    principal: AdminPrincipal,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> MetricDeleteRead:
    """Without start/end, every point and the catalog entry go; with a range, only those points."""
    zone = await tenant_zone(session)
    filters = _filters(name, start, end, [], zone)
    deleted = await service.delete_metric(session, filters)
    return MetricDeleteRead(
        metric=name, deleted_points=deleted, definition_deleted=start is None and end is None
    )
