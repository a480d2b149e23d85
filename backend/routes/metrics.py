"""Business metrics: batch ingest, file upload, the catalog, queries and deletion."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Body, File, Form, Path, Query, UploadFile
from fastapi.responses import Response

from backend.dependencies import (
    MAX_OFFSET,
    AdminPrincipal,
    AnalystPrincipal,
    CurrentPrincipal,
    PageParams,
    TenantSession,
    TenantWriteSlot,
)
from backend.routes import examples
from backend.routes.jobs import job_accepted
from backend.schemas.common import Page
from backend.schemas.jobs import JobAccepted
from backend.schemas.metrics import (
    Aggregation,
    IngestRead,
    MetricBatchIn,
    MetricDefinitionIn,
    MetricDeleteRead,
    MetricQueryRead,
    MetricRead,
    MetricSourcesRead,
    UploadRead,
)
from backend.services.errors import PayloadTooLarge, Problem, ValidationFailed
from backend.services.metrics import service, upload_service
from backend.services.metrics.buckets import FILL_MODES, MAX_BUCKETS, parse_bucket
from backend.services.metrics.points import (
    CURRENCY_PATTERN,
    DIMENSION_KEY_PATTERN,
    METRIC_NAME_PATTERN,
    NO_DIMENSIONS,
    SOURCE_NAME_PATTERN,
    TIMESTAMP_RANGE_TEXT,
    Point,
    dimensions_key,
    localize,
    out_of_range_indexes,
    point_instant,
    timestamp_problem,
)
from backend.services.metrics.reader import MetricQuery, Sources
from backend.services.metrics.repository import CatalogEntry
from backend.services.metrics.service import RollupRequest
from backend.services.metrics.upload import SAMPLE_ROWS
from backend.services.tenant.service import tenant_zone
from backend.services.workload import Queued
from backend.utils.error_handlers import error_responses
from backend.utils.exports import (
    ExportFormat,
    ExportTable,
    RequestedExport,
    export_openapi,
    export_response,
    safe_filename,
)
from backend.utils.frequency import normalise as frequency_alias
from backend.utils.responses import fast_json
from backend.utils.spreadsheets import Cell

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"], responses=error_responses(401, 422))

# The request body limit (MAX_REQUEST_BODY_BYTES, nginx's client_max_body_size) is 25 MiB too: a
# 1,000,000-row `date,store,returns` CSV is about 23 MB; an .xlsx compresses.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
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
        raise ValidationFailed(f"unknown time zone {name!r}", context={"field": "tz"}) from error


def _filters(
    metric: str, start: datetime | None, end: datetime | None, dims: list[str], zone: ZoneInfo
) -> MetricQuery:
    dimensions: dict[str, str] = {}
    for item in dims:
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise ValidationFailed(
                f"dimension filter {item!r} must look like key:value", context={"field": "dim"}
            )
        dimensions[key] = value
    for field, bound in (("start", start), ("end", end)):
        problem = timestamp_problem(bound, exclusive_end=field == "end") if bound is not None else None
        if problem:
            raise ValidationFailed(f"{field}: {problem}", context={"field": field})
    start_ts = localize(start, zone) if start else None
    end_ts = localize(end, zone) if end else None
    if start_ts and end_ts and end_ts <= start_ts:
        raise ValidationFailed("end must be after start", context={"field": "end"})
    return MetricQuery(metric=metric, start=start_ts, end=end_ts, dimensions=dimensions)


def _check_point_times(points: list[Point]) -> None:
    """Every point's instant in the supported range, reported per point like pydantic's errors."""
    bad = out_of_range_indexes(points, limit=MAX_REPORTED_POINTS)
    if bad:
        message = f"timestamps must lie {TIMESTAMP_RANGE_TEXT}"
        raise ValidationFailed(
            "The request is not valid; see details.problems",
            problems=[
                Problem(code="timestamp_range", message=message, field=f"points.{i}.ts", location="body")
                for i in bad
            ],
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
    summary="Ingest a batch of points (idempotent, all-or-nothing)",
    responses=error_responses(403, 413),
)
async def ingest_metrics(
    _turn: TenantWriteSlot,
    body: Annotated[MetricBatchIn, Body(openapi_examples=examples.INGEST)],
    session: TenantSession,
    principal: AnalystPrincipal,
) -> IngestRead:
    """Up to 10,000 points. The same (metric, ts, dimensions) again updates the value. One invalid
    point rejects the whole batch with a 422 listing every bad point by index. A tenant's batches
    beyond the deployment's limit in flight wait their turn, so other tenants are not held up."""
    zone = await tenant_zone(session)
    points = [
        Point(p["metric"], point_instant(p["ts"], zone), p["value"], p.get("dimensions") or NO_DIMENSIONS)
        for p in body.points
    ]
    _check_point_times(points)
    result = await service.ingest_points(session, points, source=body.source)
    return IngestRead.model_validate(result, from_attributes=True)


_UPLOAD_DESCRIPTION = (
    "Long layout `metric,timestamp,value[,dimension…]` or wide `date[,dimension…],<metric>,…`. In the "
    "wide layout a column of text is a dimension and a column of numbers a metric (decided on the first "
    f"{SAMPLE_ROWS:,} rows, by majority); `dimensions` names the dimension columns instead. Any bad cell "
    "rejects the file with a 422 whose details list rows, columns and reasons; nothing is written unless "
    "every row is valid. `dry_run=true` answers the mapping it would apply (layout, timestamp, dimension "
    "and metric columns, points per metric, time range, first points, bad cells) and writes nothing.\n\n"
    f"**Background jobs**: a file of more than {upload_service.SYNC_MAX_UPLOAD_POINTS:,} points (data rows x "
    "metric columns, estimated from the line count) is kept for the tenant and parsed and written by a "
    "`metrics.upload` job: 202 with `Location: /api/v1/jobs/{id}`, whose progress counts points written "
    "and whose result is this endpoint's answer (a bad cell fails the job with the same details). "
    f"A request parses at most {service.MAX_UPLOAD_ROWS:,} data rows and {service.MAX_UPLOAD_POINTS:,} "
    f"points, a job {upload_service.JOB_MAX_UPLOAD_ROWS:,} and {upload_service.JOB_MAX_UPLOAD_POINTS:,}."
)


def _dimension_columns(dimensions: str | None) -> list[str] | None:
    if dimensions is None or not dimensions.strip():
        return None
    names = [name.strip().lower() for name in dimensions.split(",")]
    if any(not name for name in names):
        raise ValidationFailed(
            "dimensions is a comma-separated list of column names", context={"field": "dimensions"}
        )
    return names


@router.post(
    "/upload",
    response_model=UploadRead,
    summary="Upload a CSV or .xlsx file of points (dry run available; big files run as a job)",
    description=_UPLOAD_DESCRIPTION,
    responses={
        **error_responses(403, 413),
        202: {"model": JobAccepted, "description": "A large file, queued as a background job"},
    },
)
async def upload_metrics(
    session: TenantSession,
    principal: AnalystPrincipal,
    file: Annotated[UploadFile, File(description=f"CSV (UTF-8) or .xlsx, at most {MAX_UPLOAD_BYTES} bytes.")],
    dry_run: Annotated[bool, Form(description="Parse and validate only; write nothing.")] = False,
    layout: Annotated[Literal["auto", "long", "wide"], Form()] = "auto",
    dimensions: Annotated[
        str | None,
        Form(
            max_length=1000,
            description="Wide layout: the dimension columns, comma-separated (e.g. `store,channel`); every "
            "other column is a metric. Omit to decide by the values (text → dimension).",
        ),
    ] = None,
) -> Response:
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"uploads are limited to {MAX_UPLOAD_BYTES} bytes", context={"limit_bytes": MAX_UPLOAD_BYTES}
        )
    options = upload_service.UploadOptions(
        filename=file.filename or "upload.csv",
        layout=layout,
        dimensions=_dimension_columns(dimensions),
        dry_run=dry_run,
    )
    content = await file.read()
    started = await upload_service.start_upload(session, content, options, requested_by=principal.user_id)
    if isinstance(started, Queued):
        return job_accepted(started)
    return fast_json(UploadRead.model_validate(started).model_dump(mode="json"))


@router.get("", summary="The metric catalog")
async def list_metrics(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[MetricRead]:
    """Every metric the tenant has: its definition (unit, currency, aggregation, favourable direction,
    non-negative, display format, how sources combine) with the number of points and the first and last
    time stamp. Any role. Paged with `limit`/`offset`."""
    entries, total = await service.list_catalog(session, window=page)
    return Page.of([_catalog_read(e) for e in entries], total, page)


_DEFINE_DESCRIPTION = (
    "Fields left out keep their stored value (null clears one). `sources` says how points of several "
    "sources combine on read: `priority` reads one source of truth, the first listed with data in "
    "the window; `additive` sums the listed sources. A source missing from the list cannot write "
    "the metric while another source has points (409 `source_conflict`)."
)


@router.put(
    "/{name}",
    summary="Declare or describe a metric (unit, currency, aggregation, direction, sources…)",
    description=_DEFINE_DESCRIPTION,
    responses=error_responses(403),
)
@router.put("/{name}/definition", include_in_schema=False)
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
            context={"field": "limit", "maximum": MAX_ROWS_PER_RESPONSE},
        )
    return limit


def _series_table(body: dict[str, Any], zone: ZoneInfo) -> ExportTable:
    """The JSON answer of ``query_metric`` as one table: a row per point (per group)."""
    raw = body["bucket"] is None
    stamp = f"ts ({zone.key})"
    header = [stamp, "value", "source", "dimensions"] if raw else [stamp, "value", "count", "filled"]
    if body["group_by"]:
        header.insert(1, body["group_by"])
    rows: list[list[Cell]] = []
    for series in body["series"]:
        for point in series["points"]:
            extra: list[Cell] = (
                [point["source"], dimensions_key(point["dimensions"] or {})]
                if raw
                else [point["count"], point["filled"]]
            )
            group: list[Cell] = [series["group"]] if body["group_by"] else []
            rows.append([point["ts"], *group, point["value"], *extra])
    return ExportTable(title=body["metric"], header=header, rows=rows, zone=zone)


def _metric_answer(body: dict[str, Any], zone: ZoneInfo, export_format: ExportFormat | None) -> Response:
    if export_format is None:
        return fast_json(body)
    stem = safe_filename(body["metric"], body["bucket"] or "points", body["aggregation"] or "")
    return export_response(_series_table(body, zone), export_format, stem)


@router.get(
    "/{name}",
    response_model=MetricQueryRead,
    summary="Raw points, or a rollup by bucket (paged; the metric's source rule applies; JSON, CSV or .xlsx)",
    description=(
        f"Raw points (default page {DEFAULT_RAW_LIMIT}) or rollup rows (group x bucket, default and "
        f"maximum {MAX_ROWS_PER_RESPONSE:,}) page with `limit`/`offset`; `total` counts them all. "
        "Reads follow the metric's source rule (`sources_used`); `source=` reads one source. "
        "`format=csv|xlsx` (or an `Accept` header) exports the page as a file."
    ),
    responses={**error_responses(404), **export_openapi()},
)
async def query_metric(
    name: Annotated[
        str,
        Path(pattern=METRIC_NAME_PATTERN, description="Metric name.", openapi_examples=examples.METRIC_NAME),
    ],
    session: TenantSession,
    principal: CurrentPrincipal,
    export_format: RequestedExport,
    bucket: Annotated[
        str | None,
        Query(
            description="hour, day, week (starting Monday), month, quarter, year, or e.g. '15 minutes'; the "
            "pandas codes of the frequency vocabulary are aliases (D, W-MON, MS, QS, YS, …). Omit for raw.",
            openapi_examples=examples.ROLLUP_BUCKET,
        ),
    ] = None,
    agg: Annotated[
        Aggregation | None,
        Query(description="Defaults to the metric's aggregation.", openapi_examples=examples.ROLLUP_AGG),
    ] = None,
    start: Annotated[
        datetime | None, Query(description=f"Inclusive; tenant time zone if no offset. {_RANGE}")
    ] = None,
    end: Annotated[datetime | None, Query(description=f"Exclusive. {_RANGE}")] = None,
    tz: Annotated[str | None, Query(description="IANA zone for calendar buckets; default: tenant's.")] = None,
    dim: Annotated[list[str], Query(description="Dimension filter key:value (repeatable).")] = [],  # noqa: B006
    group_by: Annotated[
        str | None,
        Query(
            pattern=DIMENSION_KEY_PATTERN,
            description="One dimension.",
            openapi_examples=examples.ROLLUP_GROUP_BY,
        ),
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
    currency: Annotated[
        str | None,
        Query(
            pattern=CURRENCY_PATTERN,
            description="Rollups: read the values in this ISO 4217 currency (default: the tenant's "
            "reporting currency, else the metric's), each point at its own day's exchange rate.",
        ),
    ] = None,
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
        body.update(
            total=raw.total, **_sources_body(raw.sources), currency=definition.currency, converted=False
        )
        return _metric_answer({**body, "series": [{"group": None, "points": points}]}, zone, export_format)
    parsed_bucket = parse_bucket(str(frequency_alias(bucket)))
    used_agg = agg or definition.aggregation
    ask = RollupRequest(filters, parsed_bucket, used_agg, zone, group_by, fill, page_limit, offset)
    page = await service.rollup_page(session, ask, await service.currency_plan(session, definition, currency))
    body.update(bucket=parsed_bucket.label, aggregation=used_agg, start=page.start, end=page.end)
    body.update(group_by=group_by, total=page.total, **_sources_body(page.sources))
    body.update(currency=page.currency, converted=page.converted)
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
    return _metric_answer(body, zone, export_format)


def _sources_body(sources: Sources) -> dict[str, Any]:
    return {
        "source_rule": sources.rule,
        "sources_used": list(sources.used),
        "sources_available": list(sources.available),
    }


@router.delete(
    "/{name}",
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
