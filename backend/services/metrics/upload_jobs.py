"""Uploads, start to end: parse and write now, or keep the file and queue a ``metrics.upload`` job.

``background_reason`` is the one size rule (it moves into the workload kit at merge): a file whose
estimated points (data rows x metric columns) exceed ``SYNC_MAX_UPLOAD_POINTS`` is stored in the
tenant's ``metric_uploads`` row (forced RLS; never a shared directory) and parsed and written by a
worker, with progress; a dry run of such a file answers its mapping as the job's result.

Both paths answer the same summary (``UploadSummary``): the mapping, point counts per metric, the
time range, the first points, the row errors and, unless a dry run, what was written.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.jobs import JobFailed, JobRun, job
from backend.jobs.enqueue import enqueue
from backend.models import MetricUpload
from backend.services.errors import ValidationFailed
from backend.services.metrics import service
from backend.services.metrics.points import Point
from backend.services.metrics.upload import SAMPLE_ROWS, ParsedUpload, RowError, choose_mapping, csv_rows
from backend.services.tenant.service import tenant_zone
from backend.utils.database import session_tenant

UPLOAD_JOB = "metrics.upload"
UPLOAD_QUEUE = "metrics"
UPLOAD_SOURCE = "upload"
# Estimated points (data rows x metric columns) a request parses and writes itself. Measured with
# time.perf_counter around POST /api/v1/metrics/upload (httpx over ASGITransport, embedded
# PostgreSQL, 2 shared cores under load) on `date,store,returns` files: 25,000 points 1.6 s,
# 50,000 2.5 s, 75,000 2.6-4.6 s, 100,000 5.3 s, 200,000 6.3 s. About 2 s: 50,000.
SYNC_MAX_UPLOAD_POINTS = 50_000
# What a job accepts (the request's parser limits are service.MAX_UPLOAD_ROWS / _POINTS).
JOB_MAX_UPLOAD_ROWS = 2_000_000
JOB_MAX_UPLOAD_POINTS = 4_000_000
# Points written per statement batch in a job, with progress reported after each.
JOB_WRITE_CHUNK_POINTS = 100_000
PREVIEW_POINTS = 20


class UploadOptions(BaseModel):
    """How to read one uploaded file (the job payload, with the stored file's id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: str
    layout: str = "auto"
    dimensions: list[str] | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class UploadStarted:
    summary: dict[str, Any] | None = None  # answered now
    job_id: uuid.UUID | None = None  # or queued
    background_reason: str | None = None


def estimate_points(content: bytes, options: UploadOptions) -> int:
    """Data rows x metric columns, from the first rows' mapping and the row count (no full parse).

    A file the parser refuses up front (its name, its header) estimates 0: the request refuses it."""
    name = options.filename.lower()
    if name.endswith(".xlsx"):
        rows, data_rows = _xlsx_head(content)
    elif not name.endswith((".csv", ".txt")) and "." in name:
        return 0
    else:
        head = content[: 256 * 1024]
        rows = list(
            itertools.islice(csv_rows(io.BytesIO(head[: head.rfind(b"\n") + 1] or head)), SAMPLE_ROWS + 1)
        )
        data_rows = content.count(b"\n") + (0 if content.endswith(b"\n") else 1) - 1
    if not rows:
        return 0
    header = [str(cell).strip().lower() if cell is not None else "" for cell in rows[0]]
    try:
        mapping = choose_mapping(header, rows[1:], options.layout, options.dimensions)
    except ValidationFailed:
        return 0
    return max(data_rows, 0) * (len(mapping.metric_columns) if mapping.layout == "wide" else 1)


def _xlsx_head(content: bytes) -> tuple[list[list[Any]], int]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # a broken workbook is refused by the parser, in the request
        return [], 0
    try:
        sheet = workbook.worksheets[0]
        rows = [list(row) for row in sheet.iter_rows(max_row=SAMPLE_ROWS + 1, values_only=True)]
        return rows, (sheet.max_row or 1) - 1
    finally:
        workbook.close()


def background_reason(estimated_points: int) -> str | None:
    """Why an upload runs as a job, or None to run it in the request: the one size rule."""
    if estimated_points > SYNC_MAX_UPLOAD_POINTS:
        return (
            f"about {estimated_points:,} points (data rows x metric columns) exceed the "
            f"{SYNC_MAX_UPLOAD_POINTS:,} an upload request handles itself"
        )
    return None


async def start_upload(
    session: AsyncSession, content: bytes, options: UploadOptions, *, requested_by: uuid.UUID | None
) -> UploadStarted:
    """Parse and write (or dry-run) now, or store the file and queue the job; nothing written on a 4xx."""
    reason = background_reason(await asyncio.to_thread(estimate_points, content, options))
    if reason is not None:
        job_id = await _queue(session, content, options, requested_by=requested_by)
        return UploadStarted(job_id=job_id, background_reason=reason)
    zone = await tenant_zone(session)
    parsed = await asyncio.to_thread(_parse, content, options, zone, background=False)
    return UploadStarted(summary=await _apply(session, parsed, options))


async def _queue(
    session: AsyncSession, content: bytes, options: UploadOptions, *, requested_by: uuid.UUID | None
) -> uuid.UUID:
    tenant = session_tenant(session)
    upload = MetricUpload(
        tenant_id=tenant,
        filename=options.filename,
        layout=options.layout,
        dimensions=options.dimensions,
        content=content,
    )
    session.add(upload)
    await session.flush()
    payload = {"upload_id": str(upload.id), **options.model_dump(mode="json")}
    return await enqueue(session, tenant, UPLOAD_JOB, payload, created_by=requested_by)


def _parse(content: bytes, options: UploadOptions, zone: ZoneInfo, *, background: bool) -> ParsedUpload:
    """CPU-bound: runs in a thread."""
    limits = {"max_rows": JOB_MAX_UPLOAD_ROWS, "max_points": JOB_MAX_UPLOAD_POINTS} if background else {}
    return service.parse_upload(
        io.BytesIO(content),
        filename=options.filename,
        zone=zone,
        layout=options.layout,
        dimensions=options.dimensions,
        **limits,
    )


async def _apply(session: AsyncSession, parsed: ParsedUpload, options: UploadOptions) -> dict[str, Any]:
    """The dry run's answer, or the points written; a bad row refuses the whole file."""
    if not options.dry_run:
        _refuse_bad_rows(parsed)
    result = (
        None if options.dry_run else await service.ingest_points(session, parsed.points, source=UPLOAD_SOURCE)
    )
    return summarize(parsed, dry_run=options.dry_run, result=result)


def _refuse_bad_rows(parsed: ParsedUpload) -> None:
    if parsed.error_count:
        raise ValidationFailed(
            f"{parsed.error_count} row problem(s); nothing was written",
            details={
                "errors": [_error(e) for e in parsed.errors],
                "error_count": parsed.error_count,
                "rows_read": parsed.rows_read,
            },
        )
    if not parsed.points:
        raise ValidationFailed("the file has no data rows")


def _error(error: RowError) -> dict[str, Any]:
    return {"row": error.row, "column": error.column, "message": error.message}


def _point(point: Point) -> dict[str, Any]:
    return {
        "metric": point.metric,
        "ts": point.ts,
        "value": point.value,
        "dimensions": dict(point.dimensions),
    }


def summarize(parsed: ParsedUpload, *, dry_run: bool, result: service.IngestResult | None) -> dict[str, Any]:
    """The answer of an upload (plain data; ``UploadRead`` validates it)."""
    mapping = parsed.mapping
    counts = parsed.points_per_metric()
    span: tuple[datetime, datetime] | tuple[None, None] = parsed.time_range() or (None, None)
    return {
        "dry_run": dry_run,
        "layout": mapping.layout,
        "mapping": {
            "layout": mapping.layout,
            "timestamp_column": mapping.timestamp_column,
            "dimension_columns": list(mapping.dimension_columns),
            "metric_columns": list(mapping.metric_columns),
            "points_per_metric": counts,
            "first_ts": span[0],
            "last_ts": span[1],
        },
        "rows_read": parsed.rows_read,
        "points": len(parsed.points),
        "metrics": list(counts),
        "preview": [_point(p) for p in parsed.points[:PREVIEW_POINTS]],
        "error_count": parsed.error_count,
        "errors": [_error(e) for e in parsed.errors],
        "result": None if result is None else result.__dict__,
    }


@job(UPLOAD_JOB, queue=UPLOAD_QUEUE, max_attempts=2)
async def upload_in_background(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    """Read the stored file, parse it in a thread, write it in chunks with progress; the file row goes."""
    upload_id = uuid.UUID(payload["upload_id"])
    options = UploadOptions.model_validate({k: v for k, v in payload.items() if k != "upload_id"})
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            content = await _stored_file(session, upload_id)
            zone = await tenant_zone(session)
        await run.progress(5, "file read; parsing")
        parsed = await asyncio.to_thread(_parse, content, options, zone, background=True)
        del content
        await run.progress(30, f"{parsed.rows_read:,} rows parsed; writing {len(parsed.points):,} points")
        async with run.database.tenant_session(run.tenant_id) as session:
            summary = await _apply_in_chunks(run, session, parsed, options)
            await _forget(session, upload_id)
    except ValidationFailed as exc:
        await _forget_now(run, upload_id)
        raise JobFailed(exc.message, code=exc.code, details=exc.details) from exc
    except BaseException:
        if run.is_last_attempt:
            await _forget_now(run, upload_id)
        raise
    return _jsonable(summary)


async def _stored_file(session: AsyncSession, upload_id: uuid.UUID) -> bytes:
    content = await session.scalar(select(MetricUpload.content).where(MetricUpload.id == upload_id))
    if content is None:
        raise ValidationFailed("the uploaded file is gone; upload it again", code="upload_gone")
    return content


async def _forget(session: AsyncSession, upload_id: uuid.UUID) -> None:
    await session.execute(delete(MetricUpload).where(MetricUpload.id == upload_id))


async def _forget_now(run: JobRun, upload_id: uuid.UUID) -> None:
    async with run.database.tenant_session(run.tenant_id) as session:
        await _forget(session, upload_id)


async def _apply_in_chunks(
    run: JobRun, session: AsyncSession, parsed: ParsedUpload, options: UploadOptions
) -> dict[str, Any]:
    """Like ``_apply``, in one transaction, but in chunks so the job reports points written / total.

    Chunks are written in file order, so the last of repeated points still wins; a point repeated
    in a later chunk counts as updated (or unchanged), one repeated within a chunk as a duplicate."""
    if options.dry_run:
        return summarize(parsed, dry_run=True, result=None)
    _refuse_bad_rows(parsed)
    points = parsed.points
    totals = dict.fromkeys(("inserted", "updated", "unchanged", "duplicates_in_batch"), 0)
    for offset in range(0, len(points), JOB_WRITE_CHUNK_POINTS):
        chunk = points[offset : offset + JOB_WRITE_CHUNK_POINTS]
        written = await service.ingest_points(session, chunk, source=UPLOAD_SOURCE)
        for key in totals:
            totals[key] += getattr(written, key)
        done = offset + len(chunk)
        await run.progress(30 + 69 * done // len(points), f"{done:,} of {len(points):,} points written")
    result = service.IngestResult(received=len(points), metrics=list(parsed.points_per_metric()), **totals)
    return summarize(parsed, dry_run=False, result=result)


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    import orjson

    return dict(orjson.loads(orjson.dumps(summary)))
