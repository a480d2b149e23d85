"""Evidence jobs: work too large for a request — a causal analysis (stored as an edge), a unit study,
a marketing-mix fit (stored as a model) — run by a worker.

The job reads in one tenant unit of work, computes outside any transaction, and writes in
another, so no connection is held while DoWhy runs. A data problem (too few observations,
a constant treatment, collinear confounders, …) is a final ``JobFailed`` carrying the same
code and details a synchronous request would have answered with 422.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.jobs import JobFailed, JobRun, job
from backend.services.errors import ValidationFailed
from backend.services.evidence import mmm_service, service, unit_service
from backend.services.evidence.types import UnitStudySpec
from backend.services.evidence.units import (
    UnitStudyInputs,
    assemble,
    compute_overall,
    segment_effects,
    study_table,
)


@job(service.ANALYSIS_JOB, queue=service.ANALYSIS_QUEUE, max_attempts=2)
async def analyze_in_background(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    spec = service.AnalysisSpec.model_validate(payload)
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            prepared = await service.prepare_analysis(session, spec)
            inputs = await service.read_analysis_inputs(session, prepared)
        await run.progress(10, "observations read; estimating and refuting the effect")
        # The worker is a process of its own: a thread keeps its event loop (heartbeats, progress) free.
        output = await asyncio.to_thread(service.compute_analysis, inputs)
        async with run.database.tenant_session(run.tenant_id) as session:
            edge = await service.store_analysis(session, prepared, output)
    except ValidationFailed as exc:
        raise JobFailed(exc.message, code=exc.code, details=exc.details) from exc
    return {
        "edge_id": str(edge.id),
        "cause": edge.cause,
        "effect": edge.effect,
        "effect_size": edge.effect_size,
        "ci_lower": edge.ci_lower,
        "ci_upper": edge.ci_upper,
        "verdict": edge.verdict,
    }


@job(unit_service.UNIT_STUDY_JOB, queue=unit_service.UNIT_STUDY_QUEUE, max_attempts=2)
async def unit_study_in_background(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    """A unit-level study too large for a request; its result is the job's result (nothing else stored)."""
    inputs = UnitStudyInputs(spec=UnitStudySpec.model_validate(payload["spec"]), rows=payload["rows"])
    try:
        table = await asyncio.to_thread(study_table, inputs)
        await run.progress(10, f"{len(table.frame)} units checked; estimating and refuting the effect")
        result = await asyncio.to_thread(compute_overall, inputs.spec, table)
        await run.progress(80, "overall effect estimated and refuted; estimating segment effects")
        segments = await asyncio.to_thread(segment_effects, table, inputs.spec.confidence_level)
    except ValidationFailed as exc:
        raise JobFailed(exc.message, code=exc.code, details=exc.details) from exc
    return assemble(table, result, segments).model_dump(mode="json")


@job(mmm_service.MMM_FIT_JOB, queue=mmm_service.MMM_FIT_QUEUE, max_attempts=2)
async def mmm_fit_in_background(run: JobRun, payload: dict[str, Any]) -> dict[str, Any]:
    """A marketing-mix fit too large for a request; progress after the point fit and per bootstrap batch."""
    spec = mmm_service.MmmSpec.model_validate(payload)
    loop = asyncio.get_running_loop()

    def report(done: int, draws: int) -> None:
        # Called in the fitting thread: the progress is written on the worker's event loop.
        percent = 20 + (75 * done // draws if draws else 75)
        message = f"point fit done; {done}/{draws} bootstrap refits"
        asyncio.run_coroutine_threadsafe(run.progress(percent, message), loop).result()

    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            inputs = await mmm_service.read_inputs(session, spec)
        await run.progress(5, "metrics read; fitting the model")
        fitted = await asyncio.to_thread(mmm_service.compute_mmm, inputs, report)
        async with run.database.tenant_session(run.tenant_id) as session:
            model = await mmm_service.store_fit(session, spec, fitted)
            result = {"model_id": str(model.id), "outcome": model.outcome, "channels": list(model.channels)}
    except ValidationFailed as exc:
        raise JobFailed(exc.message, code=exc.code, details=exc.details) from exc
    return result
