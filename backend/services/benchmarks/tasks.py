"""The benchmark import task: global reference data is written by the worker role only.

The API validates the CSV and checks the caller (owner/admin of an operator tenant), then
queues this job. The worker checks ``BENCHMARK_ADMIN_TENANTS`` again with its own settings
before calling ``import_external_benchmarks``, which the application role cannot execute
(revision 20261204_02): a job queued for another tenant is refused below the API too.
"""

from __future__ import annotations

from typing import Any

from backend.services.benchmarks import repository
from backend.services.benchmarks.service import IMPORT_JOB, BenchmarkImport, check_import_allowed
from backend.services.errors import Forbidden
from backend.services.queue import JobFailed, JobRun, Task


async def import_benchmarks(run: JobRun, payload: BenchmarkImport) -> dict[str, Any]:
    try:
        check_import_allowed(run.settings, run.tenant_id)
    except Forbidden as exc:
        raise JobFailed.of(exc) from exc
    async with run.database.tenant_session(run.tenant_id) as session:
        imported = await repository.import_rows(session, payload.rows)
    return {"imported": imported}


TASKS: tuple[Task[Any], ...] = (Task(IMPORT_JOB, import_benchmarks),)
