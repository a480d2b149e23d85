"""Optimizer: templates, runs (create, list, detail) and what-if scenarios of a run."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import JSONResponse

from backend.dependencies import (
    AnalystCompute,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
from backend.models.optimization import OptimizationRun
from backend.routes import examples
from backend.routes.jobs import background_responses, done_or_accepted
from backend.schemas.common import Page
from backend.schemas.optimizer import (
    FromDataCreate,
    FromDataRead,
    OptimizationRunCreate,
    OptimizationRunRead,
    OptimizationRunSummary,
    OptimizerTemplateRead,
    SizeLimitRead,
    WhatIfCreate,
    WhatIfRead,
)
from backend.services.optimizer import from_data, list_templates, service
from backend.services.optimizer.service import SYNC_LIMITS
from backend.services.optimizer.types import (
    MAX_SYNC_TIME_LIMIT_SECONDS,
    DataTemplate,
    FromDataAsk,
    MetricReference,
    SolveStatus,
)
from backend.utils.error_handlers import error_responses
from backend.utils.exports import (
    ExportTable,
    RequestedExport,
    export_openapi,
    export_response,
    safe_filename,
)
from backend.utils.responses import NOT_MODIFIED, conditional_json
from backend.utils.spreadsheets import Cell

router = APIRouter(prefix="/api/v1/optimizer", tags=["optimizer"], responses=error_responses(401, 422))


_LIMITS = "; ".join(f"`{name}` {limit.limit} {limit.unit}" for name, limit in SYNC_LIMITS.items())
_SOLVING = (
    "Solved with HiGHS unless `options.solver` is `cbc`; the time limit is at most "
    f"{MAX_SYNC_TIME_LIMIT_SECONDS:g} s. **Size limit for a synchronous solve**: {_LIMITS}. "
    "Larger problems, or any run with `async: true`, are solved by a worker: the answer is 202 with "
    "the job id, and the job's result names the stored run. What-if scenarios beyond the limit are a 422 "
    "`too_large_for_synchronous_solve`: post their `scenario_params` as a background run instead."
)
_REFERENCES = (
    "**Inputs from the tenant's metrics**: any number in `params` may instead be "
    '`{"metric": "<name>", "agg": "avg", "last": "90 days"}` (agg: avg, sum, min, max, stddev, latest; '
    'optional `dimensions` such as `{"sku": "MUG"}` and `scale`, e.g. 14 for two weeks of a daily '
    "average). It is resolved from `business_metrics` over the trailing window ending now, before the "
    "solve; the run records each resolved value in `metric_inputs`. A reference with no observations in "
    "its window is a 422."
)


@router.get("/templates", summary="Problem templates with their input JSON schema and an example")
async def list_optimizer_templates(
    principal: CurrentPrincipal, page: PageParams
) -> Page[OptimizerTemplateRead]:
    """The problems the optimizer solves (budget_allocation, inventory, staffing, product_mix): each with
    its description, the JSON schema of its `params`, a worked example to post to
    `/api/v1/optimizer/runs`, its size limit for a synchronous solve and the schema of a metric
    reference. Any role."""
    reference_schema = MetricReference.model_json_schema()
    templates = [
        OptimizerTemplateRead(
            **info.model_dump(),
            synchronous_limit=SizeLimitRead(
                unit=SYNC_LIMITS[info.name].unit, limit=SYNC_LIMITS[info.name].limit
            ),
            metric_reference_schema=reference_schema,
        )
        for info in list_templates()
    ]
    return Page.listing(templates, page)


def _run_read(run: OptimizationRun) -> OptimizationRunRead:
    return OptimizationRunRead.from_row(
        run,
        result=service.run_result(run),
        metric_inputs=service.run_metric_inputs(run),
        timings=service.run_timings(run),
    )


@router.post(
    "/runs",
    response_model=OptimizationRunRead,
    status_code=status.HTTP_201_CREATED,
    summary="Solve a template and store the run (analyst)",
    description=(
        "Validates `params` against the template (422 lists each problem with its path), solves, and "
        "stores the run whatever its status: an infeasible run carries the conflicting constraint "
        f"groups in `result.conflict`.\n\n{_SOLVING}\n\n{_REFERENCES}"
    ),
    responses=background_responses(403, 503),
)
async def create_optimization_run(
    body: Annotated[OptimizationRunCreate, Body(openapi_examples=examples.BUDGET_PLAN)],
    compute: AnalystCompute,
) -> OptimizationRunRead | JSONResponse:
    prepared = await service.prepare_run(
        compute.session, template=body.template, params=body.params, options=body.options.to_solve_options()
    )
    outcome = await service.solve(compute.session, compute.pool, prepared, compute.requester(body.run_async))
    return done_or_accepted(outcome, _run_read)


@router.get("/runs", summary="List runs, newest first")
async def list_optimization_runs(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    template: Annotated[str | None, Query(max_length=50, description="Only this template.")] = None,
    run_status: Annotated[SolveStatus | None, Query(alias="status", description="Only this status.")] = None,
) -> Page[OptimizationRunSummary]:
    """Stored runs of the tenant, newest first, optionally only one `template` or `status` (optimal,
    infeasible, …): the objective and timing of each, not its full result (read it with `GET
    /api/v1/optimizer/runs/{run_id}`). Any role."""
    runs, total = await service.list_runs(session, template=template, status=run_status, window=page)
    return Page.of([OptimizationRunSummary.model_validate(r) for r in runs], total, page)


def _plan_table(run: OptimizationRunRead) -> ExportTable:
    """The plan: the objective, every decision's value, then the totals an owner reads first."""
    result = run.result
    rows: list[list[Cell]] = [["objective", result.objective_label, result.objective]]
    rows += [["decision", name, value] for name, value in result.decisions.items()]
    rows += [["summary", name, value] for name, value in result.summary.items()]
    return ExportTable(title=f"plan {result.template}", header=["section", "name", "value"], rows=rows)


@router.get(
    "/runs/{run_id}",
    response_model=OptimizationRunRead,
    summary="A run with its inputs, result and explanation (or its plan as CSV or .xlsx)",
    responses={**error_responses(404), **export_openapi(), **NOT_MODIFIED},
)
async def get_optimization_run(
    run_id: uuid.UUID,
    request: Request,
    session: TenantSession,
    principal: CurrentPrincipal,
    export_format: RequestedExport,
) -> OptimizationRunRead | Response:
    """The stored run: inputs, resolved metric inputs, status, objective, every decision, the summary and
    the plain explanation. With `format=csv` or `format=xlsx` (or that Accept header), the plan as a
    file. Answers 304 to a matching `If-None-Match`. 404 for an id that is not the tenant's."""
    run = _run_read(await service.get_run(session, run_id))
    if export_format is None:
        return conditional_json(request, run, tenant_id=principal.tenant_id)
    stem = safe_filename("plan", run.result.template, str(run.id)[:8])
    return export_response(_plan_table(run), export_format, stem)


@router.post(
    "/runs/{run_id}/what-if",
    summary="Re-solve a run with changed inputs and compare side by side (analyst)",
    description=(
        'Applies `changes` to the run\'s stored inputs (e.g. `{"path": "/total_budget", "op": '
        '"scale", "value": 1.1}` or `{"path": "/products/*/unit_cost", "op": "scale", "value": 1.05, '
        '"where": {"supplier": "B"}}`), re-solves, and compares with the stored result: objective '
        "change, the decisions that move, and a plain explanation. The scenario is not stored; "
        "`scenario_params` can be posted to /runs to keep it.\n\n" + _SOLVING
    ),
    responses=error_responses(403, 404, 503),
)
async def run_optimization_what_if(
    run_id: uuid.UUID,
    body: Annotated[WhatIfCreate, Body(openapi_examples=examples.BUDGET_WHAT_IF)],
    compute: AnalystCompute,
) -> WhatIfRead:
    outcome = await service.what_if(
        compute.session,
        compute.pool,
        run_id,
        changes=body.changes,
        options=body.options.to_solve_options(),
        use_baseline_solver=body.options.solver is None,
    )
    return WhatIfRead(
        **outcome.comparison.model_dump(),
        baseline_run_id=outcome.baseline_run.id,
        scenario_params=outcome.scenario_params,
    )


@router.post(
    "/{template}/from-data",
    response_model=FromDataRead,
    status_code=status.HTTP_201_CREATED,
    summary="Solve a template with inputs built from the tenant's own data (analyst)",
    description=(
        "Builds the template's inputs from the tenant's metrics, then validates, solves and stores the run "
        "as `POST /runs` does; `inputs` lists every number used with its metric, period, method and, where "
        "the method has one, its 95% interval.\n\n"
        "- `inventory`: weekly demand per SKU (`units_sold`…), latest `stock_level` and `unit_cost` "
        "per SKU.\n"
        "- `budget_allocation`: the newest marketing-mix model's response curves "
        "(POST /api/v1/evidence/mmm); "
        "`total_budget` defaults to the recent spend rate over `planning_days`.\n"
        "- `staffing`: next week's (or `week_start`'s) demand per day from the weekday pattern of the last 8 "
        "weeks of `orders` (or `transactions`, `customers`, `footfall`, `visits`), served at the tenant's "
        "rate per `staff_hours`; staff per day = demand / (rate x `shift_hours`), rounded up; the roster "
        "from `staff_hours` per `employee` and `hourly_wage`.\n"
        "- `product_mix`: each SKU's latest `price` and `unit_cost`, weekly `units_sold` as its sales limit, "
        "and price elasticities (log-log OLS with CI) where the price varied.\n\n"
        "**422 `validation_failed`** when the data lack an input: `details.needs` names the metric that "
        f"would let it.\n\n{_SOLVING}"
    ),
    responses=background_responses(403, 503),
)
async def create_optimization_run_from_data(
    template: DataTemplate,
    body: FromDataCreate,
    compute: AnalystCompute,
) -> FromDataRead | JSONResponse:
    ask = FromDataAsk.model_validate(body.model_dump(include=set(FromDataAsk.model_fields)))
    made = await from_data.solve_from_data(
        compute.session,
        compute.pool,
        template,
        ask,
        body.options.to_solve_options(),
        compute.requester(body.run_async),
    )
    return done_or_accepted(made.outcome, lambda run: FromDataRead(run=_run_read(run), inputs=made.inputs))
