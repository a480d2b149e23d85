"""Optimizer runs: resolve tenant-metric inputs, solve off the event loop, store and compare.

The flow of a run follows the architecture: reads first (metric references in the
parameters are resolved from ``business_metrics``), then the pure solve in the CPU executor
(:class:`backend.utils.compute.ComputePool`), then the write. A run row keeps the parameters exactly
as solved (references replaced by numbers, defaults filled in) in ``params``, the
engine's full result JSON in ``solution`` (plus ``metric_inputs``: where each
referenced number came from), and service-level timings in ``timings``.

What-if scenarios are not stored: they are exploratory and reproducible from the stored
baseline and the changes, and the response carries the scenario's parameters so a client
can keep one by creating a run with them.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models.optimization import OptimizationRun
from backend.services.errors import Problem, ValidationFailed
from backend.services.optimizer import (
    Change,
    OptimizationResult,
    SolveOptions,
    WhatIfResult,
    apply_changes,
    compare_results,
    get_template,
    parse_params,
    repository,
    run_template,
)
from backend.services.optimizer.mmm_curves import resolve_mmm_channels
from backend.services.optimizer.types import (
    MetricInput,
    MetricReference,
    RunTimings,
    StoredSolution,
)
from backend.services.queue import JobKind
from backend.services.workload import SYSTEM, Queued, Requester, SizeRule, queue_reason, run_or_queue
from backend.utils.compute import ComputePool
from backend.utils.prometheus import OPTIMIZATION_RUNS
from backend.utils.repository import get_or_404

T = TypeVar("T")

# --------------------------------------------------------------------------- size limits

OPTIMIZER_QUEUE = "optimizer"
_MEASURED = (
    "measured with HiGHS on the benchmark's instance generators (tests/benchmarks/bench_optimizer.py, "
    "2 shared cores): "
)

# Beyond these sizes a solve belongs in a background job.
SYNC_LIMITS: dict[str, SizeRule[Any]] = {
    "budget_allocation": SizeRule(
        "budget_allocation",
        "channels",
        500,
        lambda p: len(p.channels),
        why=_MEASURED + "500 channels (the template's own maximum) 0.40 s",
    ),
    "inventory": SizeRule(
        "inventory", "products", 2000, lambda p: len(p.products), why=_MEASURED + "2000 products 2.1 s"
    ),
    "staffing": SizeRule(
        "staffing",
        "employee x day x shift assignments",
        2100,
        lambda p: len(p.employees) * len(p.days) * len(p.shifts),
        why=_MEASURED + "100 x 7 x 3 = 2100 assignments 0.67 s",
    ),
    "product_mix": SizeRule(
        "product_mix", "products", 3000, lambda p: len(p.products), why=_MEASURED + "3000 products 0.33 s"
    ),
}


def oversize_reason(template: str, params: BaseModel) -> str | None:
    """Why a problem is beyond the synchronous limit, or None when it is within it."""
    return queue_reason((SYNC_LIMITS[template],), params)


def check_synchronous_size(template: str, params: BaseModel) -> None:
    """Refuse (422 ``too_large_for_synchronous_solve``) a what-if beyond the synchronous limit."""
    reason = oversize_reason(template, params)
    if reason is not None:
        limit = SYNC_LIMITS[template]
        raise ValidationFailed(
            f"{reason}; post the scenario_params as a new run with async=true instead",
            code="too_large_for_synchronous_solve",
            context={
                "template": template,
                "size": limit.size(params),
                "unit": limit.unit,
                "limit": limit.limit,
            },
        )


# --------------------------------------------------------------------------- metric references

_REFERENCE_KEYS = frozenset({"metric", "agg", "last", "dimensions", "scale"})


def _find_references(node: Any, path: str, found: list[tuple[str, dict[str, Any]]]) -> None:
    if isinstance(node, dict):
        # Template parameter models forbid unknown fields and none has a "metric" field,
        # so an object with "metric" can only be a reference.
        if "metric" in node:
            found.append((path, node))
            return
        for key, value in node.items():
            _find_references(value, f"{path}/{key}", found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _find_references(value, f"{path}/{index}", found)


def _replace(doc: Any, path: str, value: float) -> None:
    *parents, last = path.split("/")[1:]
    for segment in parents:
        doc = doc[int(segment)] if isinstance(doc, list) else doc[segment]
    if isinstance(doc, list):
        doc[int(last)] = value
    else:
        doc[last] = value


async def resolve_metric_references(
    session: AsyncSession, params: Mapping[str, Any]
) -> tuple[dict[str, Any], list[MetricInput]]:
    """A copy of ``params`` with every metric reference replaced by its number.

    Raises ``ValidationFailed`` listing every malformed reference and every reference with
    no observations in its window.
    """
    resolved: dict[str, Any] = copy.deepcopy(dict(params))
    found: list[tuple[str, dict[str, Any]]] = []
    _find_references(resolved, "", found)
    errors: list[Problem] = []
    inputs: list[MetricInput] = []
    for path, raw in found:
        try:
            reference = MetricReference.model_validate(raw)
        except ValidationError as exc:
            errors += Problem.at_pointers(exc.errors(include_url=False, include_input=False), base=path)
            continue
        aggregate = await repository.aggregate_metric(
            session,
            metric=reference.metric,
            agg=reference.agg,
            window=reference.window,
            dimensions=reference.dimensions,
        )
        if aggregate.value is None:
            message = (
                f"metric {reference.metric!r} has no observations for {reference.agg} "
                f"in the last {reference.last}"
                + (f" with dimensions {reference.dimensions}" if reference.dimensions else "")
            )
            errors.append(Problem(code="no_observations", message=message, path=path))
            continue
        value = reference.scale * aggregate.value
        _replace(resolved, path, value)
        inputs.append(MetricInput(path=path, reference=reference, points=aggregate.points, value=value))
    if errors:
        raise ValidationFailed(
            f"metric references could not be resolved: {errors[0].path}: {errors[0].message}",
            problems=errors,
        )
    return resolved, inputs


# --------------------------------------------------------------------------- runs


def run_result(run: OptimizationRun) -> OptimizationResult:
    """The engine's result stored with ``run``."""
    return repository.run_solution(run)


def run_metric_inputs(run: OptimizationRun) -> list[MetricInput]:
    return repository.run_solution(run).metric_inputs


def run_timings(run: OptimizationRun) -> RunTimings:
    return repository.run_timings(run)


class PreparedRun(BaseModel):
    """A validated run, metric references resolved, ready to solve here or in a worker (the payload
    of its job: the worker solves exactly what was validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: str
    params: dict[str, Any]
    inputs: list[MetricInput]
    options: SolveOptions
    resolve_seconds: float
    # Why the size rule sends it to a worker (None within the limit); not part of the payload.
    oversized: str | None = Field(default=None, exclude=True)


OPTIMIZER_JOB = JobKind("optimizer.run", PreparedRun, queue=OPTIMIZER_QUEUE, max_attempts=2)


async def prepare_run(
    session: AsyncSession, *, template: str, params: Mapping[str, Any], options: SolveOptions
) -> PreparedRun:
    """Resolve metric references and validate; a bad input is a 422 listing each problem's path."""
    started = perf_counter()
    get_template(template)
    if template == "budget_allocation":
        params = await resolve_mmm_channels(session, params)
    resolved, inputs = await resolve_metric_references(session, params)
    parsed = parse_params(template, resolved)
    return PreparedRun(
        template=template,
        params=parsed.model_dump(mode="json"),
        inputs=inputs,
        options=options,
        oversized=oversize_reason(template, parsed),
        resolve_seconds=perf_counter() - started,
    )


async def store_run(
    session: AsyncSession, prepared: PreparedRun, result: OptimizationResult, *, solve_wall_seconds: float
) -> OptimizationRun:
    solution = StoredSolution(**dict(result), metric_inputs=prepared.inputs)
    timings = RunTimings(
        **dict(result.timings),
        resolve_inputs_seconds=prepared.resolve_seconds,
        worker_seconds=solve_wall_seconds,
        service_seconds=prepared.resolve_seconds + solve_wall_seconds,
    )
    run = await repository.add_run(
        session, template=prepared.template, params=prepared.params, solution=solution, timings=timings
    )
    OPTIMIZATION_RUNS.labels(template=prepared.template, status=result.status).inc()
    return run


async def create_run(session: AsyncSession, pool: ComputePool, prepared: PreparedRun) -> OptimizationRun:
    """Solve in the compute pool and store the run, whatever its status."""
    started = perf_counter()
    result = await pool.run(run_template, prepared.template, prepared.params, prepared.options)
    return await store_run(session, prepared, result, solve_wall_seconds=perf_counter() - started)


async def solve(
    session: AsyncSession,
    pool: ComputePool,
    prepared: PreparedRun,
    requester: Requester = SYSTEM,
) -> OptimizationRun | Queued:
    """Solve and store now, or queue the solve (asked for, or beyond the template's size rule)."""
    return await run_or_queue(
        session,
        requester,
        reason=prepared.oversized,
        run=lambda: create_run(session, pool, prepared),
        kind=OPTIMIZER_JOB,
        payload=lambda: prepared,
    )


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> OptimizationRun:
    return await get_or_404(
        session, OptimizationRun, run_id, "Optimization run not found", {"run_id": str(run_id)}
    )


# Listing has no rule of its own: the repository's filtered page is the answer.
list_runs = repository.list_runs


@dataclass(frozen=True)
class WhatIf:
    """A scenario of a stored run: the comparison and the parameters the scenario solved."""

    baseline_run: OptimizationRun
    comparison: WhatIfResult
    scenario_params: dict[str, Any]


async def what_if(
    session: AsyncSession,
    pool: ComputePool,
    run_id: uuid.UUID,
    *,
    changes: Sequence[Change],
    options: SolveOptions,
    use_baseline_solver: bool = False,
) -> WhatIf:
    """Re-solve a stored run's parameters with ``changes`` and compare with its stored result.

    With ``use_baseline_solver`` the scenario is solved by the solver that solved the run,
    so the comparison shows the effect of the changes, not of a different solver.
    """
    run = await get_run(session, run_id)
    if use_baseline_solver and run.solver is not None:
        options = options.model_copy(update={"solver": run.solver})
    if not changes:
        raise ValidationFailed("a what-if needs at least one change", context={"changes": []})
    changed = apply_changes(run.params, changes)
    try:
        scenario_params = parse_params(run.template, changed)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"the changes make the parameters invalid: {exc.message}", problems=exc.problems
        ) from None
    check_synchronous_size(run.template, scenario_params)
    solved_params = scenario_params.model_dump(mode="json")
    scenario = await pool.run(run_template, run.template, solved_params, options)
    comparison = compare_results(run_result(run), scenario, changes)
    return WhatIf(baseline_run=run, comparison=comparison, scenario_params=solved_params)
