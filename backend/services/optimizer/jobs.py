"""Optimizer jobs: a run too large (or asked) to solve within a request, solved by a worker.

The payload is the prepared run (metric references already resolved when it was
queued), so the worker solves exactly what was validated. The solve runs in a thread:
the worker is a process of its own, and its event loop keeps heartbeats and progress going.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any

from backend.jobs import JobRun, job
from backend.services.optimizer import run_template, service


@job(service.OPTIMIZER_JOB, queue=service.OPTIMIZER_QUEUE, max_attempts=2)
async def solve_in_background(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    prepared = service.PreparedRun.from_job_payload(payload)
    await run.progress(5, f"solving {prepared.template} with {prepared.options.solver}")
    started = perf_counter()
    result = await asyncio.to_thread(run_template, prepared.template, prepared.params, prepared.options)
    elapsed = perf_counter() - started
    async with run.database.tenant_session(run.tenant_id) as session:
        stored = await service.store_run(session, prepared, result, solve_wall_seconds=elapsed)
        run_id = stored.id
    return {
        "run_id": str(run_id),
        "run_url": f"/api/v1/optimizer/runs/{run_id}",
        "status": result.status,
        "objective": result.objective,
    }
