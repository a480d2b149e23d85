"""The metric upload task: a file too large for a request, parsed and written by a worker.

The request stored the file in the tenant's ``metric_uploads`` row (forced RLS) and queued this
job (``upload_service.start_upload``); the job reads it back, parses it, writes the points in
chunks with progress and deletes the row (also when the file is refused, or on the last attempt).
Parsing runs in a thread, not the CPU executor: its result is up to millions of point objects,
which a process hop would pickle twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.services.errors import ValidationFailed
from backend.services.metrics.upload_service import (
    UPLOAD_JOB,
    UploadJob,
    apply_in_chunks,
    forget,
    forget_now,
    jsonable,
    parse,
    stored_file,
)
from backend.services.queue import JobFailed, JobRun, Task
from backend.services.tenant.service import tenant_zone


async def upload_in_background(run: JobRun, payload: UploadJob) -> dict[str, Any]:
    """Read the stored file, parse it, write it in chunks with progress; the file row goes."""
    upload_id = payload.upload_id
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            content = await stored_file(session, upload_id)
            zone = await tenant_zone(session)
        await run.progress(0.05, "file read; parsing")
        parsed = await asyncio.to_thread(parse, content, payload, zone, background=True)
        del content
        await run.progress(0.30, f"{parsed.rows_read:,} rows parsed; writing {len(parsed.points):,} points")
        async with run.database.tenant_session(run.tenant_id) as session:
            summary = await apply_in_chunks(run, session, parsed, payload)
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
