"""The benchmark import job: global reference data is written by the worker role only.

The API validates the CSV and checks the caller (owner/admin of an operator tenant), then
queues this job. The worker checks ``BENCHMARK_ADMIN_TENANTS`` again with its own settings
before calling ``import_external_benchmarks``, which the application role cannot execute
(revision 20261204_02): a job queued for another tenant is refused below the API too.
"""

from __future__ import annotations

from typing import Any

from backend.jobs import JobFailed, JobRun, job
from backend.services.benchmarks import repository
from backend.services.benchmarks.service import IMPORT_JOB, IMPORT_QUEUE, check_import_allowed
from backend.services.errors import Forbidden


@job(IMPORT_JOB, queue=IMPORT_QUEUE, max_attempts=1)
async def import_benchmarks(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        check_import_allowed(run.settings, run.tenant_id)
    except Forbidden as exc:
        raise JobFailed(exc.message, code=exc.code, details=exc.details) from exc
    async with run.database.tenant_session(run.tenant_id) as session:
        imported = await repository.import_rows(session, payload["rows"])
    return {"imported": imported}
