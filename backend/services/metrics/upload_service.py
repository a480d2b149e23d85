"""Uploads, start to end: parse and write now, or keep the file and queue a ``metrics.upload`` job.

The size rule goes through the workload kit (``upload_size_rules``): a file whose estimated points
(data rows x metric columns) exceed ``SYNC_MAX_UPLOAD_POINTS`` is stored in the tenant's
``metric_uploads`` row (forced RLS; never a shared directory) and parsed and written by a worker
(``tasks.upload_in_background``), with progress; a dry run of such a file answers its mapping as
the job's result.

Both paths answer the same summary (``UploadSummary``): the mapping, point counts per metric, the
time range, the first points, the row errors and, unless a dry run, what was written.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import MetricUpload
from backend.services.errors import ValidationFailed
from backend.services.metrics import service
from backend.services.metrics.points import Point
from backend.services.metrics.upload import SAMPLE_ROWS, ParsedUpload, choose_mapping, csv_rows
from backend.services.queue import JobKind, JobRun
from backend.services.tenant.service import tenant_zone
from backend.services.workload import Queued, SizeRule, queue, queue_reason
from backend.utils.database import session_tenant
from backend.utils.row_errors import RowError

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
# Points parsed and then written per chunk of a job, with progress (rows read, points written)
# reported after each: one upsert statement each (repository.UPSERT_CHUNK_POINTS is 100,000).
JOB_WRITE_CHUNK_POINTS = 50_000
PREVIEW_POINTS = 20


class UploadOptions(BaseModel):
    """How to read one uploaded file (the job payload, with the stored file's id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: str
    layout: str = "auto"
    dimensions: list[str] | None = None
    dry_run: bool = False


class UploadJob(UploadOptions):
    """The payload of a ``metrics.upload`` job: how to read the file, and the stored file's id."""

    upload_id: uuid.UUID


UPLOAD_JOB = JobKind("metrics.upload", UploadJob, queue=UPLOAD_QUEUE, max_attempts=2)


def estimate_rows(content: bytes, options: UploadOptions) -> int:
    """Data rows of the file: its lines (or the sheet's rows) less the header; blank ones included."""
    if options.filename.lower().endswith(".xlsx"):
        return _xlsx_head(content)[1]
    return max(content.count(b"\n") + (0 if content.endswith(b"\n") else 1) - 1, 0)


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
        data_rows = estimate_rows(content, options)
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


def upload_size_rules() -> tuple[SizeRule[int], ...]:
    """The upload's size rule over its estimated points (read at call time: tests lower the limit)."""
    return (
        SizeRule(
            "upload",
            "points (data rows x metric columns)",
            SYNC_MAX_UPLOAD_POINTS,
            lambda estimated: estimated,
            why="parsing and writing about 50,000 points takes ~2 s in a request here (measured above)",
            describe=lambda _, size: (
                f"about {size:,} points (data rows x metric columns) exceed the "
                f"{SYNC_MAX_UPLOAD_POINTS:,} an upload request handles itself"
            ),
        ),
    )


def background_reason(estimated_points: int) -> str | None:
    """Why an upload runs as a job, or None to run it in the request."""
    return queue_reason(upload_size_rules(), estimated_points)


async def start_upload(
    session: AsyncSession, content: bytes, options: UploadOptions, *, requested_by: uuid.UUID | None
) -> dict[str, Any] | Queued:
    """Parse and write (or dry-run) now, or store the file and queue the job; nothing written on a 4xx.

    Not ``run_or_queue``: the queued path stores the file first, so the payload can name it."""
    reason = background_reason(await asyncio.to_thread(estimate_points, content, options))
    if reason is not None:
        return await _queue(session, content, options, reason=reason, requested_by=requested_by)
    zone = await tenant_zone(session)
    parsed = await asyncio.to_thread(parse, content, options, zone)
    return await _apply(session, parsed, options)


async def _queue(
    session: AsyncSession,
    content: bytes,
    options: UploadOptions,
    *,
    reason: str,
    requested_by: uuid.UUID | None,
) -> Queued:
    payload = UploadJob(upload_id=await keep_file(session, content, options), **options.model_dump())
    return await queue(session, UPLOAD_JOB, payload, reason=reason, requested_by=requested_by)


async def keep_file(session: AsyncSession, content: bytes, options: UploadOptions) -> uuid.UUID:
    """Store ``content`` in the tenant's ``metric_uploads`` row for a job to read; its id."""
    upload = MetricUpload(
        tenant_id=session_tenant(session),
        filename=options.filename,
        layout=options.layout,
        dimensions=options.dimensions,
        content=content,
    )
    session.add(upload)
    await session.flush()
    return upload.id


def parse(content: bytes, options: UploadOptions, zone: ZoneInfo) -> ParsedUpload:
    """CPU-bound: runs in a thread, with the request's limits."""
    return service.parse_upload(
        io.BytesIO(content),
        filename=options.filename,
        zone=zone,
        layout=options.layout,
        dimensions=options.dimensions,
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
    parsed.raise_if_any("row problem(s); nothing was written")
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


async def stored_file(session: AsyncSession, upload_id: uuid.UUID) -> bytes:
    content = await session.scalar(select(MetricUpload.content).where(MetricUpload.id == upload_id))
    if content is None:
        raise ValidationFailed("the uploaded file is gone; upload it again", code="upload_gone")
    return content


async def forget(session: AsyncSession, upload_id: uuid.UUID) -> None:
    await session.execute(delete(MetricUpload).where(MetricUpload.id == upload_id))


async def forget_now(run: JobRun, upload_id: uuid.UUID) -> None:
    async with run.database.tenant_session(run.tenant_id) as session:
        await forget(session, upload_id)


ProgressReport = Callable[[float, str], Awaitable[None]]  # JobRun.progress: (fraction done, message)


@dataclass
class _Written:
    """What the chunks of one upload wrote, added up."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_in_batch: int = 0

    def add(self, result: service.IngestResult) -> None:
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.duplicates_in_batch += result.duplicates_in_batch


def chunk_rows(content: bytes, options: UploadOptions) -> int:
    """Data rows parsed (then written) between two progress reports: ``JOB_WRITE_CHUNK_POINTS``
    points' worth, whatever the number of metric columns."""
    estimated = estimate_points(content, options)
    per_row = max(1, round(estimated / max(estimate_rows(content, options), 1)))
    return max(1, JOB_WRITE_CHUNK_POINTS // per_row)


async def write_streaming(
    session: AsyncSession,
    content: bytes,
    options: UploadOptions,
    *,
    zone: ZoneInfo,
    source: str,
    progress: ProgressReport,
) -> tuple[ParsedUpload, dict[str, Any]]:
    """Parse a chunk of rows, write its points, report rows read and points written; again to the end.

    All in the session's transaction, so it stays all-or-nothing: after the first bad cell nothing
    more is written, the rest of the file is still read for its errors, and the refusal rolls the
    written chunks back. Chunks go in file order, so the last of repeated points still wins; a point
    repeated in a later chunk counts as updated (or unchanged), one repeated within a chunk as a
    duplicate. Parsing runs in a thread, a chunk ahead of the writes: the next chunk is parsed
    while PostgreSQL writes this one."""
    total_rows = max(estimate_rows(content, options), 1)
    chunks = service.parse_upload_chunks(
        io.BytesIO(content),
        filename=options.filename,
        zone=zone,
        layout=options.layout,
        dimensions=options.dimensions,
        max_rows=JOB_MAX_UPLOAD_ROWS,
        max_points=JOB_MAX_UPLOAD_POINTS,
        chunk_rows=chunk_rows(content, options),
    )
    written, totals, parsed = 0, _Written(), None
    ahead = _parse_ahead(chunks)
    try:
        while (chunk := await ahead) is not None:
            parsed = chunk
            # What this chunk holds, taken before the parser goes on with the next one.
            rows_read, bad, new_points = parsed.rows_read, parsed.error_count, parsed.points[written:]
            ahead = _parse_ahead(chunks)  # parsed in a thread while this chunk is written
            if not options.dry_run and not bad and new_points:
                totals.add(await service.ingest_points(session, new_points, source=source))
                written += len(new_points)
            fraction = 0.99 * min(rows_read / total_rows, 1.0)
            await progress(fraction, f"{rows_read:,} rows read, {written:,} points written")
    finally:
        await asyncio.gather(ahead, return_exceptions=True)  # the parser is never left running
    assert parsed is not None  # the parser yields at least once, at the end of the file
    if options.dry_run:
        return parsed, summarize(parsed, dry_run=True, result=None)
    _refuse_bad_rows(parsed)
    result = service.IngestResult(
        received=len(parsed.points), metrics=list(parsed.points_per_metric()), **asdict(totals)
    )
    return parsed, summarize(parsed, dry_run=False, result=result)


def _parse_ahead(chunks: Iterator[ParsedUpload]) -> asyncio.Future[ParsedUpload | None]:
    return asyncio.ensure_future(asyncio.to_thread(next, chunks, None))


def jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    import orjson

    return dict(orjson.loads(orjson.dumps(summary)))
