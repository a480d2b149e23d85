"""Files uploaded to a ``file`` data source: written in the request, or kept and written by a job.

The size rule is the metric upload's (``upload_service.background_reason``: estimated points over
``SYNC_MAX_UPLOAD_POINTS``), so both uploads answer 202 at the same size. A queued upload keeps
the file in the tenant's ``metric_uploads`` row and records a sync run ``queued``; the
``connectors.upload`` job parses and writes it a chunk at a time in one transaction
(``write_streaming``: progress counts rows read and points written) and records the run as
succeeded with rows read and points written, or failed with the refusal; nothing is written then.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ConnectorSync, DataSource
from backend.services.connectors import repository
from backend.services.connectors.service import get_source, points_source
from backend.services.errors import DyocenseError, Problem, ValidationFailed
from backend.services.metrics import upload_service
from backend.services.metrics.service import ingest_points, parse_upload
from backend.services.metrics.upload_service import UploadOptions
from backend.services.queue import JobFailed, JobKind, JobRun, Task
from backend.services.tenant.service import tenant_zone
from backend.services.workload import Queued, queue
from backend.utils.prometheus import CONNECTOR_SYNCS


class FileUploadJob(UploadOptions):
    """The payload of a ``connectors.upload`` job: the kept file, its source and its sync run."""

    upload_id: uuid.UUID
    source_id: uuid.UUID
    sync_id: uuid.UUID


UPLOAD_JOB = JobKind("connectors.upload", FileUploadJob, queue="connectors", max_attempts=2)


async def upload_file(
    session: AsyncSession,
    source_id: uuid.UUID,
    content: bytes,
    *,
    filename: str,
    requested_by: uuid.UUID | None = None,
) -> ConnectorSync | Queued:
    """Ingest an uploaded CSV/XLSX through the metrics upload parser, recorded as a sync run; a
    file beyond the upload size rule is queued as a ``connectors.upload`` job instead."""
    source = await get_source(session, source_id)
    if source.connector_type != "file":
        raise ValidationFailed(
            "only 'file' data sources take uploads; other types pull their data with /sync"
        )
    options = UploadOptions(filename=filename, layout=str(source.config.get("layout", "auto")))
    estimated = await asyncio.to_thread(upload_service.estimate_points, content, options)
    reason = upload_service.background_reason(estimated)
    if reason is not None:
        return await _queue(session, source, content, options, reason=reason, requested_by=requested_by)
    started = datetime.now(UTC)
    zone = await tenant_zone(session)
    parsed = await asyncio.to_thread(
        parse_upload, io.BytesIO(content), filename=filename, zone=zone, layout=options.layout
    )
    if parsed.error_count:
        CONNECTOR_SYNCS.labels(connector="file", outcome="failure").inc()
        raise ValidationFailed(
            f"{parsed.error_count} rows are invalid; nothing was written",
            problems=[Problem.cell(error.row, error.column, error.message) for error in parsed.errors],
        )
    result = await ingest_points(session, parsed.points, source=points_source(source.id))
    sync = _sync_run(source, filename, started=started, status="succeeded")
    _succeeded(source, sync, rows_read=parsed.rows_read, points_written=result.inserted + result.updated)
    session.add(sync)
    await session.flush()
    CONNECTOR_SYNCS.labels(connector="file", outcome="success").inc()
    return sync


def _sync_run(source: DataSource, filename: str, *, started: datetime | None, status: str) -> ConnectorSync:
    return ConnectorSync(
        id=uuid.uuid4(),
        tenant_id=source.tenant_id,
        data_source_id=source.id,
        trigger="upload",
        status=status,
        attempts=1 if started else 0,
        cursor_before={},
        cursor_after={"filename": filename[:200]},
        started_at=started,
    )


def _succeeded(source: DataSource, sync: ConnectorSync, *, rows_read: int, points_written: int) -> None:
    now = datetime.now(UTC)
    sync.status, sync.finished_at, sync.error = "succeeded", now, None
    sync.records_read, sync.points_written = rows_read, points_written
    source.last_synced_at = now


async def _queue(
    session: AsyncSession,
    source: DataSource,
    content: bytes,
    options: UploadOptions,
    *,
    reason: str,
    requested_by: uuid.UUID | None,
) -> Queued:
    upload_id = await upload_service.keep_file(session, content, options)
    sync = _sync_run(source, options.filename, started=None, status="queued")
    session.add(sync)
    payload = FileUploadJob(upload_id=upload_id, source_id=source.id, sync_id=sync.id, **options.model_dump())
    queued = await queue(session, UPLOAD_JOB, payload, reason=reason, requested_by=requested_by)
    sync.job_id = queued.job_id
    await session.flush()
    return queued


async def upload_in_background(run: JobRun, payload: FileUploadJob) -> dict[str, Any]:
    """Parse and write the kept file chunk by chunk with progress, record the sync run; the file goes."""
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            source = await repository.source_by_id(session, payload.source_id, for_update=True)
            sync = await repository.sync_by_id(session, payload.sync_id)
            if source is None or sync is None:
                raise JobFailed("the data source was deleted before its upload ran", code="source_deleted")
            sync.started_at, sync.attempts = datetime.now(UTC), run.attempt
            content = await upload_service.stored_file(session, payload.upload_id)
            parsed, summary = await upload_service.write_streaming(
                session,
                content,
                payload,
                zone=await tenant_zone(session),
                source=points_source(source.id),
                progress=run.progress,
            )
            written = summary["result"]["inserted"] + summary["result"]["updated"]
            _succeeded(source, sync, rows_read=parsed.rows_read, points_written=written)
            await upload_service.forget(session, payload.upload_id)
    except DyocenseError as exc:
        await _refused(run, payload, exc)
        raise JobFailed.of(exc) from exc
    except BaseException:
        if run.is_last_attempt:
            await upload_service.forget_now(run, payload.upload_id)
        raise
    CONNECTOR_SYNCS.labels(connector="file", outcome="success").inc()
    return {"sync_id": str(payload.sync_id), **upload_service.jsonable(summary)}


async def _refused(run: JobRun, payload: FileUploadJob, error: DyocenseError) -> None:
    """The file is refused (a bad cell, a source conflict): the run says why, the file goes."""
    async with run.database.tenant_session(run.tenant_id) as session:
        sync = await repository.sync_by_id(session, payload.sync_id)
        if sync is not None:
            sync.status, sync.finished_at = "failed", datetime.now(UTC)
            sync.error = {"code": error.code, "message": error.message, "details": error.details}
        await upload_service.forget(session, payload.upload_id)
    CONNECTOR_SYNCS.labels(connector="file", outcome="failure").inc()


TASKS: tuple[Task[Any], ...] = (Task(UPLOAD_JOB, upload_in_background),)
