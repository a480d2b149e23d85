"""The metric upload task: a file too large for a request, parsed and written by a worker.

The request stored the file in the tenant's ``metric_uploads`` row (forced RLS) and queued this
job (``upload_service.start_upload``); the job reads it back and parses and writes it a chunk at
a time in one transaction (``write_streaming``: progress counts rows read and points written),
then deletes the row (also when the file is refused, or on the last attempt).
"""

from __future__ import annotations

from typing import Any

from backend.services.errors import ValidationFailed
from backend.services.metrics.upload_service import (
    UPLOAD_JOB,
    UPLOAD_SOURCE,
    UploadJob,
    forget,
    forget_now,
    jsonable,
    stored_file,
    write_streaming,
)
from backend.services.queue import JobFailed, JobRun, Task
from backend.services.tenant.service import tenant_zone


async def upload_in_background(run: JobRun, payload: UploadJob) -> dict[str, Any]:
    """Read the stored file, parse and write it chunk by chunk with progress; the file row goes."""
    upload_id = payload.upload_id
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            content = await stored_file(session, upload_id)
            zone = await tenant_zone(session)
            _, summary = await write_streaming(
                session, content, payload, zone=zone, source=UPLOAD_SOURCE, progress=run.progress
            )
            await forget(session, upload_id)
    except ValidationFailed as exc:
        await forget_now(run, upload_id)
        raise JobFailed.of(exc) from exc
    except BaseException:
        if run.is_last_attempt:
            await forget_now(run, upload_id)
        raise
    return jsonable(summary)


TASKS: tuple[Task[Any], ...] = (Task(UPLOAD_JOB, upload_in_background),)
