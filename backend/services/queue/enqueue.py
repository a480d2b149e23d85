"""Enqueueing a job: a tenant status row and the procrastinate job, in one transaction.

The procrastinate job is inserted with ``defer_tenant_job`` (revision 20261204_02) on the
caller's own connection, so the status row and the job commit together: a worker never
picks up a job whose status row is not there yet, and a rolled-back request leaves no
orphan job. The application role has no access to the queue tables: that SECURITY DEFINER
function inserts the job only if it carries the transaction's tenant (and locks prefixed
with it), and returns its id. The tenant is the session's own, never an argument.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import Conflict
from backend.services.jobs import service as job_status
from backend.services.queue.registry import JobKind, P
from backend.utils.database import session_tenant

_DEFER = text(
    "select defer_tenant_job(cast(:queue as varchar), cast(:task as varchar), "
    "cast(:lock as text), cast(:queueing_lock as text), cast(:args as jsonb))"
)
# The same, run no earlier than ``run_at`` (revision 20261207_10), e.g. after an alert's quiet hours.
_DEFER_AT = text(
    "select defer_tenant_job_at(cast(:queue as varchar), cast(:task as varchar), "
    "cast(:lock as text), cast(:queueing_lock as text), cast(:args as jsonb), cast(:run_at as timestamptz))"
)


class JobAlreadyQueued(Conflict):
    """A job with the same queueing lock is already waiting (e.g. a sync of the same source)."""


async def enqueue(
    session: AsyncSession,
    kind: JobKind[P],
    payload: P,
    *,
    created_by: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    run_at: datetime | None = None,
) -> uuid.UUID:
    """Queue a job of ``kind`` for the session's tenant, in the caller's transaction (committed by
    the caller); returns the id of its status row. ``parent_id``: the job this one is a child of.
    Raises ``JobAlreadyQueued`` if the kind's queueing lock is taken. ``run_at``: not before then."""
    tenant_id = session_tenant(session)
    data = kind.dump(payload)
    job = job_status.new_job(tenant_id, kind.name, data, created_by=created_by, parent_id=parent_id)
    lock = kind.lock(payload) if kind.lock is not None else None
    args = {"tenant_id": str(tenant_id), "job_id": str(job.id), "payload": data}
    try:
        async with session.begin_nested():
            session.add(job)
            await session.flush()
            parameters = {
                "queue": kind.queue,
                "task": kind.name,
                "lock": f"{tenant_id}:{lock}" if lock else None,
                "queueing_lock": f"{tenant_id}:{lock}" if lock else None,
                "args": json.dumps(args),
            }
            if run_at is None:
                queue_job_id = await session.scalar(_DEFER, parameters)
            else:
                queue_job_id = await session.scalar(_DEFER_AT, {**parameters, "run_at": run_at})
    except IntegrityError as error:
        if "queueing_lock" not in str(error.orig):
            raise
        raise JobAlreadyQueued(
            "An identical job is already waiting to run", context={"kind": kind.name, "lock": lock}
        ) from error
    job.queue_job_id = queue_job_id
    await session.flush()
    return job.id
