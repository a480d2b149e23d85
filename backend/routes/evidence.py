"""Evidence: causal analyses of which levers move an outcome, kept as an evidence graph."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError

from backend.dependencies import AnalystCompute, CurrentPrincipal, PageParams, TenantSession
from backend.models import EvidenceEdge, MarketingMixModel
from backend.routes import examples
from backend.routes.jobs import background_responses, done_or_accepted
from backend.schemas.common import Page
from backend.schemas.evidence import (
    AnalysisCreate,
    DriverEstimateRead,
    DriversCreate,
    DriversRead,
    EvidenceEdgeRead,
    EvidenceEdgeSummary,
    EvidenceGraphRead,
    EvidenceWhatIfCreate,
    EvidenceWhatIfRead,
    GrangerCreate,
    GrangerRead,
    GraphEdgeRead,
    GraphNodeRead,
    UnitStudyCreate,
    UnitStudyOptions,
    UnitStudyRead,
)
from backend.schemas.mmm import MmmCreate, MmmRead
from backend.services.errors import PayloadTooLarge, Problem, ValidationFailed
from backend.services.evidence import mmm_service, service, unit_service
from backend.services.evidence.types import (
    MAX_ADJUSTMENT_COLUMNS,
    MAX_CATEGORY_LEVELS,
    MAX_CELLS,
    MAX_UNITS,
    MIN_UNITS,
    MIN_UNITS_PER_ARM,
    UnitStudyResult,
    Verdict,
)
from backend.services.workload import Queued
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NOT_MODIFIED, conditional_json

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"], responses=error_responses(401, 422))

_ERRORS_422 = (
    "422 when a metric is unknown (`unknown_metrics`, naming them), when too few buckets align, the "
    "treatment never changes, or confounders are perfectly collinear (`validation_failed`, with details)."
)
_BACKGROUND = (
    "**Background jobs**: with `async: true`, with method `double_ml`, or when the largest metric's "
    "observations in the window times `options.refutation_simulations` exceed "
    f"{service.SYNC_MAX_WORK:,}, or when those observations x (adjustment columns + 2) x simulations exceed "
    f"{service.SYNC_MAX_GRAPH_WORK:,} (adjustment columns: confounders or graph nodes, lags, negative "
    f"controls and, with the time-series design, {service.CALENDAR_COLUMNS} calendar columns), "
    "the analysis is queued: 202 with the job id; poll "
    "`GET /api/v1/jobs/{id}`, whose result names the stored `edge_id`. A data problem then fails the job "
    "with the same error code and details."
)


def _edge_read(edge: EvidenceEdge) -> EvidenceEdgeRead:
    details = service.edge_details(edge)
    return EvidenceEdgeRead.from_row(edge, details, reasons=details.result.reasons)


@router.post(
    "/analyze",
    response_model=EvidenceEdgeRead,
    status_code=status.HTTP_201_CREATED,
    summary="Estimate, refute and judge the effect of a lever on an outcome, and store it (analyst)",
    description=(
        "Reads the metrics in `[start, end)`, buckets each by its catalog aggregation on `frequency` (the "
        "tenant's calendar), estimates the effect per unit of `treatment` with DoWhy, runs the placebo, "
        "random-common-cause and data-subset refuters and a sensitivity analysis, and stores the result as "
        "an edge of the evidence graph. By default (`design: time_series`) calendar controls are adjusted "
        "for, non-stationary series are differenced (ADF + KPSS), intervals are Newey–West, and a placebo "
        "in time (the lever's next value), rolling windows, estimator agreement and any "
        "`negative_controls` refute the estimate; `result.design` says what was done. The verdict is "
        "`supported`, `fragile` (a refuter moved it) or `not_supported`, with reasons in words. With "
        "`lags`, `result.lag_effects` gives the immediate and the cumulative (long-run) effect, and "
        f"Granger tests are included.\n\n{_ERRORS_422}\n\n{_BACKGROUND}"
    ),
    responses=background_responses(403, 503),
)
async def analyze_evidence(
    body: Annotated[AnalysisCreate, Body(openapi_examples=examples.EVIDENCE_ANALYSIS)],
    compute: AnalystCompute,
) -> EvidenceEdgeRead | JSONResponse:
    outcome = await service.analyze(
        compute.session, compute.pool, body.to_spec(), compute.requester(body.run_async)
    )
    return done_or_accepted(outcome, _edge_read)


@router.post(
    "/drivers",
    summary="Screen candidate drivers of an outcome, then estimate the top ones (analyst)",
    description=(
        "**Screening, not causation.** Correlates each candidate with the outcome and controls the false "
        "discovery rate (Benjamini-Hochberg); then, for the `top` discoveries, a cheap causal estimate "
        "adjusting for `confounders` (no refuters, no verdict — run /analyze on one for that). Nothing is "
        f"stored.\n\n{_ERRORS_422}"
    ),
    responses=error_responses(403, 503),
)
async def screen_evidence_drivers(
    body: Annotated[DriversCreate, Body(openapi_examples=examples.DRIVERS)],
    compute: AnalystCompute,
) -> DriversRead:
    output = await service.drivers(compute.session, compute.pool, body.to_spec())
    return DriversRead(
        screening=output.screening,
        skipped=output.skipped,
        estimates=[DriverEstimateRead.model_validate(e, from_attributes=True) for e in output.estimates],
        note=output.screening.note
        + " The estimates below are not refuted: an estimate that adjusts for nothing is an association.",
    )


@router.post(
    "/granger",
    summary="Granger tests: does the past of one metric help predict another? (analyst)",
    description=(
        "F-tests lag by lag up to `max_lag` buckets; the chosen lag is the one with the lowest BIC. "
        "Predictive precedence, not proof of cause. Nothing is stored.\n\n" + _ERRORS_422
    ),
    responses=error_responses(403, 503),
)
async def run_evidence_granger(
    body: Annotated[GrangerCreate, Body(openapi_examples=examples.GRANGER)],
    compute: AnalystCompute,
) -> GrangerRead:
    result, table = await service.granger(compute.session, compute.pool, body.to_spec())
    return GrangerRead(**result.model_dump(), table=table)


@router.post(
    "/what-if",
    summary="Predicted change of the outcome for a change of the treatment, with its interval (analyst)",
    description=(
        "From a stored edge (`edge_id`) or a fresh analysis (`analysis`, which is stored as an edge; "
        "analyses that need a background job are refused with 422 `needs_background_job`). Without "
        "baselines, the averages per bucket over the analysed window are used."
    ),
    responses=error_responses(403, 404, 503),
)
async def evidence_what_if(body: EvidenceWhatIfCreate, compute: AnalystCompute) -> EvidenceWhatIfRead:
    outcome = await service.what_if(
        compute.session,
        compute.pool,
        edge_id=body.edge_id,
        spec=body.analysis.to_spec() if body.analysis is not None else None,
        treatment_change=body.treatment_change,
        baseline_outcome=body.baseline_outcome,
        baseline_treatment=body.baseline_treatment,
        requested_by=compute.principal.user_id,
        sustained=body.sustained,
    )
    return EvidenceWhatIfRead(
        **outcome.prediction.model_dump(), edge_id=outcome.edge.id, baseline_source=outcome.baseline_source
    )


@router.get(
    "/graph",
    summary="The evidence graph: metrics as nodes, the newest evidence per cause-effect pair as edges",
    description="With `verdict`, only pairs whose newest evidence has that verdict (older evidence never "
    "shows through).",
)
async def get_evidence_graph(
    session: TenantSession,
    principal: CurrentPrincipal,
    verdict: Annotated[Verdict | None, Query(description="Only edges with this verdict.")] = None,
) -> EvidenceGraphRead:
    found = await service.graph(session, verdict=verdict)
    names = sorted(found.units)
    return EvidenceGraphRead(
        nodes=[GraphNodeRead(id=name, label=name, unit=found.units.get(name)) for name in names],
        edges=[
            GraphEdgeRead(
                **EvidenceEdgeSummary.model_validate(e).model_dump(), source=e.cause, target=e.effect
            )
            for e in found.edges
        ],
    )


@router.get("/edges", summary="Every stored analysis, newest first (the history behind the graph)")
async def list_evidence_edges(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    cause: Annotated[str | None, Query(max_length=100, description="Only this cause.")] = None,
    effect: Annotated[str | None, Query(max_length=100, description="Only this effect.")] = None,
    verdict: Annotated[Verdict | None, Query(description="Only this verdict.")] = None,
) -> Page[EvidenceEdgeSummary]:
    """Every stored causal analysis of the tenant, newest first, optionally only one `cause`, `effect` or
    `verdict`: the estimate, its interval and the verdict of each (the full report is `GET
    /api/v1/evidence/edges/{edge_id}`). Any role."""
    edges, total = await service.list_edges(session, cause=cause, effect=effect, verdict=verdict, window=page)
    return Page.of([EvidenceEdgeSummary.model_validate(e) for e in edges], total, page)


@router.get(
    "/edges/{edge_id}",
    response_model=EvidenceEdgeRead,
    summary="One stored analysis with its refutations, sensitivity, overlap and table report",
    responses={**error_responses(404), **NOT_MODIFIED},
)
async def get_evidence_edge(
    edge_id: uuid.UUID, request: Request, session: TenantSession, principal: CurrentPrincipal
) -> Response:
    """One stored causal analysis: the estimate with its confidence interval, every refutation test with its
    outcome, the sensitivity and overlap checks, the table it ran on and the verdict. Answers 304 to a
    matching `If-None-Match`. 404 for an id that is not the tenant's."""
    edge = _edge_read(await service.get_edge(session, edge_id))
    return conditional_json(request, edge, tenant_id=principal.tenant_id)


# --------------------------------------------------------------------------- marketing-mix models

_MMM_ERRORS = (
    "422, nothing stored, when a metric is unknown (`unknown_metrics`), a channel's spend is zero in every "
    "bucket (`all_zero_spend`), constant (`constant_spend`) or negative (`negative_spend`), two channels' "
    "spends move together (`collinear_channels`, correlation ≥ 0.999), the history is too short "
    "(`too_short_history`: at least 56 buckets and 5 per fitted parameter — 3 per channel, plus the "
    "calendar; about 120 days for 3 daily channels) or too long (`too_many_buckets`, over 1,500)."
)


_MMM_BACKGROUND = (
    "**Background jobs**: with `async: true`, or when buckets × parameters² × (`bootstrap_draws` + 4 "
    "point-fit starts) exceeds "
    f"{mmm_service.SYNC_MAX_MMM_WORK:,} (parameters: 3 per channel + calendar columns + 1; two years of "
    "daily buckets with 3 channels and 30 draws stay in the request), the data is checked (every 422 "
    "above) and the fit is queued: 202 with the job id; `GET /api/v1/jobs/{id}` reports progress (after "
    "the point fit, then per bootstrap batch) and, when done, `result.model_id`, the stored model."
)


def _mmm_read(model: MarketingMixModel) -> MmmRead:
    fitted = mmm_service.model_fit(model)
    return MmmRead.from_row(fitted, model, frequency=model.frequency)


@router.post(
    "/mmm",
    response_model=MmmRead,
    status_code=status.HTTP_201_CREATED,
    summary="Fit a marketing-mix model of spend channels on an outcome, and store it (analyst)",
    description=(
        "Per channel: geometric adstock (carry-over) and logistic saturation (diminishing returns), over a "
        "calendar baseline (trend, yearly season, day of week, public holidays), with non-negative channel "
        "effects; fitted by bounded least squares, intervals by a block bootstrap of the residuals. Returns "
        "the stored model: contribution, share, ROI and marginal ROI per channel, response curves with "
        "intervals, the decomposition of the outcome into baseline + channels, and fit quality in sample "
        "and on a held-out tail. Pass its `id` as `mmm_model_id` to a `budget_allocation` optimizer run "
        f"to plan a budget on these curves.\n\n{_MMM_ERRORS}\n\n{_MMM_BACKGROUND}"
    ),
    responses=background_responses(403, 503),
)
async def fit_marketing_mix_model(body: MmmCreate, compute: AnalystCompute) -> MmmRead | JSONResponse:
    outcome = await mmm_service.fit_model(
        compute.session, compute.pool, body.to_spec(), compute.requester(body.run_async)
    )
    return done_or_accepted(outcome, _mmm_read)


@router.get(
    "/mmm/{model_id}",
    summary="Read a stored marketing-mix model",
    description="404 for an unknown model or another tenant's; 422 for an id that is not a UUID.",
    response_model=MmmRead,
    responses={**error_responses(404), **NOT_MODIFIED},
)
async def get_marketing_mix_model(
    model_id: uuid.UUID, request: Request, session: TenantSession, principal: CurrentPrincipal
) -> Response:
    model = _mmm_read(await mmm_service.get_model(session, model_id))
    return conditional_json(request, model, tenant_id=principal.tenant_id)


# --------------------------------------------------------------------------- unit-level studies

MAX_STUDY_UPLOAD_BYTES = 20 * 1024 * 1024
_UNIT_STUDY = (
    "A cross-section of units (customers, stores, an A/B test's visitors): one row per unit with its id, "
    "treatment (0/1 or continuous), outcome, numeric covariates, categorical covariates (one-hot encoded "
    f"against the most frequent level, at most {MAX_CATEGORY_LEVELS} levels each) and an optional segment. "
    "Analysed with the cross-section estimators, refuters (placebo, random common cause, data subset, "
    "sensitivity to a hidden confounder), overlap check and verdict of `/analyze` — no time-series design. "
    "With `segment`, each segment's effect with its interval and a Wald test of equal effects "
    "(`segments.heterogeneity`). Nothing is stored.\n\n"
    f"**Limits**: at least {MIN_UNITS} units and ten per adjustment coefficient; a binary treatment needs "
    f"{MIN_UNITS_PER_ARM} units per arm; at most {MAX_UNITS:,} units, {MAX_CELLS:,} cells and "
    f"{MAX_ADJUSTMENT_COLUMNS} adjustment columns (covariates plus one-hot levels).\n\n"
    "**422** (nothing run, nothing queued): `invalid_rows` (every bad cell named by `row` — the index in "
    "`rows`, or the line of the file — and `column`: empty, not a number, NUL, a duplicate unit id), "
    "`unknown_columns`, `invalid_columns`, "
    "`repeated_columns`, `too_many_levels`, `too_many_covariates`, `too_many_units`, `too_few_units`, "
    "`treatment_without_variation`, and `validation_failed` for constant or collinear covariates "
    "(`details.collinear` names them) or too few units per coefficient.\n\n"
    "**Background jobs**: with `async: true`, with method `double_ml`, or when units × (adjustment "
    f"columns + 2) × `options.refutation_simulations` exceeds {service.SYNC_MAX_GRAPH_WORK:,}: 202 with "
    "the job id; `GET /api/v1/jobs/{id}` reports progress and, when done, the result."
)
_UNIT_RESPONSES = background_responses(403, 503)


def _study_answer(outcome: UnitStudyResult | Queued) -> UnitStudyRead | JSONResponse:
    return done_or_accepted(outcome, lambda study: UnitStudyRead.model_validate(study.model_dump()))


@router.post(
    "/unit-studies",
    response_model=UnitStudyRead,
    summary="Effect of a treatment across units (JSON rows), overall and by segment (analyst)",
    description=_UNIT_STUDY,
    responses=_UNIT_RESPONSES,
)
async def run_unit_study(body: UnitStudyCreate, compute: AnalystCompute) -> UnitStudyRead | JSONResponse:
    started = await unit_service.study_from_json(
        compute.session, compute.pool, body.to_spec(), body.rows, compute.requester(body.run_async)
    )
    return _study_answer(started)


def _upload_options(study: str) -> UnitStudyOptions:
    try:
        return UnitStudyOptions.model_validate_json(study)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            "The `study` field must be a JSON object describing the study.",
            code="invalid_study",
            problems=Problem.from_pydantic(
                exc.errors(include_url=False, include_input=False), prefix=["body", "study"]
            ),
        ) from exc


@router.post(
    "/unit-studies/upload",
    response_model=UnitStudyRead,
    summary="Effect of a treatment across units from a CSV or .xlsx file, overall and by segment (analyst)",
    description="Multipart: `file` (CSV in UTF-8 or .xlsx, first sheet; header row first, at most 20 MiB) "
    "and `study`, a JSON object with the same fields as `POST /unit-studies` without `rows` (e.g. "
    '`{"unit_id": "customer", "treatment": "coupon", "outcome": "spend", "covariates": ["age"]}`). Column '
    "names are matched case-insensitively, spaces and punctuation read as `_`; rows are numbered as "
    f"in the file (the header is row 1).\n\n{_UNIT_STUDY}",
    responses={**_UNIT_RESPONSES, **error_responses(413)},
)
async def upload_unit_study(
    compute: AnalystCompute,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or .xlsx, at most 20 MiB.")],
    study: Annotated[str, Form(max_length=20_000, description="The study as a JSON object (see above).")],
) -> UnitStudyRead | JSONResponse:
    if file.size is not None and file.size > MAX_STUDY_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"uploads are limited to {MAX_STUDY_UPLOAD_BYTES} bytes",
            context={"limit_bytes": MAX_STUDY_UPLOAD_BYTES},
        )
    options = _upload_options(study)
    started = await unit_service.study_from_file(
        compute.session,
        compute.pool,
        options.to_spec(),
        file.file,
        file.filename or "upload.csv",
        compute.requester(options.run_async),
    )
    return _study_answer(started)
