"""Optimizer tasks: a run too large (or asked) to solve within a request, solved by a job worker.

The payload is the prepared run (metric references already resolved when it was queued), so
the worker solves exactly what was validated, in its CPU executor.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from backend.services.optimizer import run_template, service
from backend.services.queue import JobRun, Task


async def solve_in_background(run: JobRun, prepared: service.PreparedRun) -> dict[str, Any]:
    await run.progress(0.05, f"solving {prepared.template} with {prepared.options.solver}")
    started = perf_counter()
    result = await run.compute.run(run_template, prepared.template, prepared.params, prepared.options)
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


TASKS: tuple[Task[Any], ...] = (Task(service.OPTIMIZER_JOB, solve_in_background),)
