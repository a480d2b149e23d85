"""Evidence tasks: work too large for a request — a causal analysis (stored as an edge), a unit study,
a marketing-mix fit (stored as a model) — run by a job worker.

The task reads in one tenant unit of work, computes in the worker's CPU executor outside any
transaction, and writes in another, so no connection is held while DoWhy runs. A data problem
(too few observations, a constant treatment, collinear confounders, …) is a final ``JobFailed``
carrying the same code and details a synchronous request would have answered with 422.
"""

from __future__ import annotations

from typing import Any

from backend.services.errors import ValidationFailed
from backend.services.evidence import mmm_service, service, unit_service
from backend.services.evidence.compute import compute_analysis
from backend.services.evidence.types import AnalysisSpec, MmmFit, MmmSpec
from backend.services.evidence.units import (
    UnitStudyInputs,
    assemble,
    compute_overall,
    segment_effects,
    study_table,
)
from backend.services.queue import JobFailed, JobRun, Task
from backend.utils.compute import Report

# Share of a marketing-mix job's progress when the point fit starts, and what the refits take.
_MMM_FIT_START = 0.2
_MMM_REFITS_SHARE = 0.75


async def analyze_in_background(run: JobRun, spec: AnalysisSpec) -> dict[str, Any]:
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            prepared = await service.prepare_analysis(session, spec)
            inputs = await service.read_analysis_inputs(session, prepared)
        await run.progress(0.1, "observations read; estimating and refuting the effect")
        output = await run.compute.run(compute_analysis, inputs)
        async with run.database.tenant_session(run.tenant_id) as session:
            edge = await service.store_analysis(session, prepared, output)
    except ValidationFailed as exc:
        raise JobFailed.of(exc) from exc
    return {
        "edge_id": str(edge.id),
        "cause": edge.cause,
        "effect": edge.effect,
        "effect_size": edge.effect_size,
        "ci_lower": edge.ci_lower,
        "ci_upper": edge.ci_upper,
        "verdict": edge.verdict,
    }


async def unit_study_in_background(run: JobRun, payload: unit_service.UnitStudyPayload) -> dict[str, Any]:
    """A unit-level study too large for a request; its result is the job's result (nothing else stored)."""
    inputs = UnitStudyInputs(spec=payload.spec, rows=payload.rows)
    try:
        table = await run.compute.run(study_table, inputs)
        await run.progress(0.1, f"{len(table.frame)} units checked; estimating and refuting the effect")
        result = await run.compute.run(compute_overall, inputs.spec, table)
        await run.progress(0.8, "overall effect estimated and refuted; estimating segment effects")
        segments = await run.compute.run(segment_effects, table, inputs.spec.confidence_level)
    except ValidationFailed as exc:
        raise JobFailed.of(exc) from exc
    return assemble(table, result, segments).model_dump(mode="json")


def fit_reporting(inputs: mmm_service.MmmInputs, report: Report) -> MmmFit:
    """``compute_mmm`` in an executor worker, reporting after the point fit and per bootstrap batch."""

    def refits(done: int, draws: int) -> None:
        share = done / draws if draws else 1.0
        report(_MMM_FIT_START + _MMM_REFITS_SHARE * share, f"point fit done; {done}/{draws} bootstrap refits")

    return mmm_service.compute_mmm(inputs, refits)


async def mmm_fit_in_background(run: JobRun, spec: MmmSpec) -> dict[str, Any]:
    """A marketing-mix fit too large for a request; progress after the point fit and per bootstrap batch."""
    try:
        async with run.database.tenant_session(run.tenant_id) as session:
            inputs = await mmm_service.read_inputs(session, spec)
        await run.progress(0.05, "metrics read; fitting the model")
        fitted = await run.compute.run_reporting(fit_reporting, inputs, progress=run.progress)
        async with run.database.tenant_session(run.tenant_id) as session:
            model = await mmm_service.store_fit(session, spec, fitted)
            result = {"model_id": str(model.id), "outcome": model.outcome, "channels": list(model.channels)}
    except ValidationFailed as exc:
        raise JobFailed.of(exc) from exc
    return result


TASKS: tuple[Task[Any], ...] = (
    Task(service.ANALYSIS_JOB, analyze_in_background),
    Task(unit_service.UNIT_STUDY_JOB, unit_study_in_background),
    Task(mmm_service.MMM_FIT_JOB, mmm_fit_in_background),
)
