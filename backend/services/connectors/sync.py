"""Running one sync of one data source (the body of the ``connectors.sync`` job).

1. a short transaction marks the run ``running`` and reads the source, its cursor and
   credentials;
2. the connector reads the external system (no transaction open meanwhile);
3. one transaction writes the points (idempotent upsert), the new cursor and the run's
   outcome — all or nothing. A worker killed before 3 commits leaves nothing behind; the
   retried job reads from the same cursor and writes the same points.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from backend.services.connectors import repository
from backend.services.connectors.http import ConnectorError, ConnectorHttp
from backend.services.connectors.service import connector_for, points_source, sync_context
from backend.services.metrics.points import Point
from backend.services.metrics.service import SourceConflict, check_sources, replace_source_points
from backend.services.queue import JobFailed, JobRun
from backend.utils.prometheus import CONNECTOR_SYNCS
from backend.utils.redaction import redact_text

logger = structlog.get_logger(__name__)


async def _record_failure(run: JobRun, sync_id: uuid.UUID, error: dict[str, Any], *, final: bool) -> None:
    async with run.database.tenant_session(run.tenant_id) as session:
        sync = await repository.sync_by_id(session, sync_id)
        if sync is not None:
            sync.status = "failed" if final else "queued"
            sync.error = error
            sync.finished_at = datetime.now(UTC) if final else None


async def _check_metric_sources(run: JobRun, points: Sequence[Point], source: str) -> None:
    """The source rule's check before the write (which repeats it), so a refused sync is
    recorded as failed with the rule's message while nothing of it is written."""
    async with run.database.tenant_session(run.tenant_id) as session:
        await check_sources(session, sorted({point.metric for point in points}), source)


def _error_body(error: SourceConflict) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "details": error.details}


async def run_sync(run: JobRun, source_id: uuid.UUID, sync_id: uuid.UUID) -> dict[str, Any]:
    async with run.database.tenant_session(run.tenant_id) as session:
        source = await repository.source_by_id(session, source_id)
        sync = await repository.sync_by_id(session, sync_id)
        if source is None or sync is None:
            raise JobFailed("the data source was deleted before its sync ran", code="source_deleted")
        sync.status, sync.attempts, sync.started_at = "running", run.attempt, datetime.now(UTC)
        sync.error, sync.finished_at = None, None
        zone = ZoneInfo(await repository.tenant_timezone(session))
        cursor = dict(source.sync_cursor)
        connector_name = source.connector_type
    connector = connector_for(connector_name)
    log = logger.bind(connector=connector_name, data_source_id=str(source_id), sync_id=str(sync_id))
    try:
        async with ConnectorHttp(run.settings.connectors) as http:
            context = await sync_context(source, run.settings, http, zone, run.progress)
            await run.progress(0.05, f"syncing {connector.title}")
            outcome = await connector.sync(context, cursor)
            http_stats = {"requests": http.requests_made, "retries": http.retries}
    except ConnectorError as error:
        final = not error.retryable or run.is_last_attempt
        await _record_failure(run, sync_id, error.as_error(), final=final)
        if final:
            CONNECTOR_SYNCS.labels(connector=connector_name, outcome="failure").inc()
        log.warning("connector_sync_failed", code=error.code, final=final)
        raise JobFailed(
            error.message, code=error.code, problems=error.problems, retryable=error.retryable
        ) from None
    except Exception as error:
        final = run.is_last_attempt
        # Shown to the tenant on the sync run and the job: a credential that a client library
        # quotes in its message is redacted. The original error stays the (logged) cause.
        message = redact_text(f"{type(error).__name__}: {error}")[:500]
        await _record_failure(
            run, sync_id, JobFailed(message, code="unexpected_error").as_error(), final=final
        )
        if final:
            CONNECTOR_SYNCS.labels(connector=connector_name, outcome="failure").inc()
        raise JobFailed(message, code="unexpected_error", retryable=True) from error

    await run.progress(0.95, f"writing {len(outcome.points)} points")
    try:
        await _check_metric_sources(run, outcome.points, points_source(source_id))
    except SourceConflict as error:
        # Not retried: only a change of the metric's definition (or of the mapping) resolves it.
        await _record_failure(run, sync_id, _error_body(error), final=True)
        CONNECTOR_SYNCS.labels(connector=connector_name, outcome="failure").inc()
        log.warning("connector_sync_failed", code=error.code, final=True)
        raise JobFailed(error.message, code=error.code, problems=error.problems) from None
    async with run.database.tenant_session(run.tenant_id) as session:
        written = await replace_source_points(
            session,
            outcome.points,
            source=points_source(source_id),
            periods=[(r.metrics, r.start, r.end) for r in outcome.replaces],
        )
        source = await repository.source_by_id(session, source_id, for_update=True)
        sync = await repository.sync_by_id(session, sync_id)
        if source is None or sync is None:
            raise JobFailed("the data source was deleted during its sync", code="source_deleted")
        now = datetime.now(UTC)
        source.sync_cursor, source.last_synced_at = outcome.cursor, now
        sync.status, sync.finished_at = "succeeded", now
        sync.records_read = outcome.records_read
        sync.points_written = written.inserted + written.updated
        sync.cursor_after = outcome.cursor
    CONNECTOR_SYNCS.labels(connector=connector_name, outcome="success").inc()
    log.info("connector_sync_succeeded", records=outcome.records_read, points=len(outcome.points))
    return {
        "sync_id": str(sync_id),
        "records_read": outcome.records_read,
        "points": len(outcome.points),
        "inserted": written.inserted,
        "updated": written.updated,
        "unchanged": written.unchanged,
        "notes": outcome.notes,
        "http": http_stats,
    }
