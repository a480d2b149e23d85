"""Forecasts of any metric, with backtested accuracy and prediction intervals."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import JSONResponse

from backend.dependencies import (
    AnalystCompute,
    AnalystPrincipal,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
from backend.models import Forecast
from backend.routes import examples
from backend.routes.jobs import background_responses, done_or_accepted, job_accepted
from backend.schemas.common import Page
from backend.schemas.forecaster import (
    EvaluationPointRead,
    ForecastBatchCreate,
    ForecastCreate,
    ForecastEvaluationRead,
    ForecastRead,
    ForecastSummary,
)
from backend.schemas.jobs import JobAccepted
from backend.services.forecaster import service
from backend.services.forecaster.service import ForecastSpec
from backend.services.forecaster.types import SYNC_MAX_HORIZON, SYNC_MAX_PERIODS
from backend.services.tenant.service import tenant_zone
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

router = APIRouter(prefix="/api/v1/forecasts", tags=["forecaster"], responses=error_responses(401, 422))

_HOW = (
    "The metric is aggregated per period (its catalog aggregation, the tenant's calendar); an incomplete "
    "last period is held out. Candidates (naive, seasonal naive, drift, SES, ETS, Theta, ARIMA and a "
    "combination of the best) are scored by a rolling-origin backtest at the requested horizon (MASE, "
    "sMAPE); the best is chosen unless `model` names one. Daily data also gets a calendar model (weekly and "
    "yearly cycles, the public holidays of `holiday_country` and the marked events as regressors), kept "
    "when its backtest beats the others; the answer's `calendar` lists what it used. Too little history is "
    f"a 422 saying how much is needed. Horizons beyond {SYNC_MAX_HORIZON} periods, histories beyond "
    f"{SYNC_MAX_PERIODS} periods, and `async: true` run as a job: 202 with the job id."
)


def _spec(body: ForecastCreate | ForecastBatchCreate, metric: str) -> ForecastSpec:
    return ForecastSpec(
        metric=metric,
        horizon=body.horizon,
        frequency=body.frequency,
        levels=tuple(body.levels),
        model=body.model,
        dimensions=body.dimensions,
        start=body.start,
        end=body.end,
        holiday_country=body.holiday_country,
    )


def _summary(forecast: Forecast) -> ForecastSummary:
    return ForecastSummary.from_row(forecast, scores=service.forecast_scores(forecast))


# Every field the full read adds to the summary, but the request as run, is the stored document's.
_DOCUMENT_FIELDS = ForecastRead.model_fields.keys() - ForecastSummary.model_fields.keys() - {"inputs"}


def _read(forecast: Forecast) -> ForecastRead:
    document = service.forecast_document(forecast)
    return ForecastRead(
        **dict(_summary(forecast)),
        inputs=service.forecast_inputs(forecast),
        **{name: getattr(document, name) for name in _DOCUMENT_FIELDS},
    )


@router.post(
    "",
    response_model=ForecastRead,
    status_code=status.HTTP_201_CREATED,
    summary="Forecast a metric (analyst)",
    description=_HOW,
    responses=background_responses(403, 404),
)
async def create_forecast(
    body: Annotated[ForecastCreate, Body(openapi_examples=examples.FORECAST)],
    compute: AnalystCompute,
) -> ForecastRead | JSONResponse:
    outcome = await service.forecast(
        compute.session, compute.pool, _spec(body, body.metric), compute.requester(body.run_async)
    )
    return done_or_accepted(outcome, _read)


@router.post(
    "/batch",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Forecast many metrics in one background job (analyst)",
    responses=error_responses(403, 404),
)
async def create_forecast_batch(
    body: ForecastBatchCreate, session: TenantSession, principal: AnalystPrincipal
) -> JSONResponse:
    """Every listed metric (all with data when none are listed) is forecast with the same options, each
    in a child job of its own (`GET /api/v1/jobs?parent_id=…`) that any worker may run. The batch's job
    reports the share of metrics done and completes with the last; its result lists the forecasts made
    and the metrics that could not be forecast, and why."""
    queued = await service.queue_batch(
        session, body.metrics, _spec(body, "batch"), requested_by=principal.user_id
    )
    return job_accepted(queued)


@router.get("", summary="List forecasts, newest first")
async def list_forecasts(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    metric: Annotated[str | None, Query(description="Only this metric.")] = None,
) -> Page[ForecastSummary]:
    """Stored forecasts of the tenant, newest first, optionally of one `metric`: the model chosen, horizon,
    frequency and backtest accuracy of each, without their points. Any role."""
    forecasts, total = await service.list_forecasts(session, metric=metric, window=page)
    return Page.of([_summary(f) for f in forecasts], total, page)


def _forecast_table(forecast: ForecastRead, zone: ZoneInfo) -> ExportTable:
    """A row per forecast period: its start, the mean and each interval's bounds."""
    bounds = [f"{side}_{level}" for level in forecast.levels for side in ("lower", "upper")]
    rows: list[list[Cell]] = [
        [
            forecast.metric,
            point.step,
            point.ts,
            point.mean,
            *(
                getattr(point, side).get(str(level))
                for level in forecast.levels
                for side in ("lower", "upper")
            ),
        ]
        for point in forecast.points
    ]
    header = ["metric", "step", f"period_start ({zone.key})", "mean", *bounds]
    return ExportTable(title=f"forecast {forecast.metric}", header=header, rows=rows, zone=zone)


@router.get(
    "/{forecast_id}",
    response_model=ForecastRead,
    summary="Get a forecast (JSON, or its points with their intervals as CSV or .xlsx)",
    responses={**error_responses(404), **export_openapi(), **NOT_MODIFIED},
)
async def get_forecast(
    forecast_id: uuid.UUID,
    request: Request,
    session: TenantSession,
    principal: CurrentPrincipal,
    export_format: RequestedExport,
) -> ForecastRead | Response:
    """A stored forecast: each period's mean with its 80% and 95% intervals, the model chosen and the
    backtest of every candidate against naive baselines, and the calendar effects used. With `format=csv`
    or `format=xlsx`, the points as a file. Answers 304 to a matching `If-None-Match`; 404 for an id that
    is not the tenant's."""
    forecast = _read(await service.get_forecast(session, forecast_id))
    if export_format is None:
        return conditional_json(request, forecast, tenant_id=principal.tenant_id)
    table = _forecast_table(forecast, await tenant_zone(session))
    stem = safe_filename("forecast", forecast.metric, forecast.frequency, str(forecast.id)[:8])
    return export_response(table, export_format, stem)


@router.post(
    "/{forecast_id}/evaluate",
    summary="Score a past forecast against the actuals that have arrived since",
    responses=error_responses(403, 404),
)
async def evaluate_forecast(
    forecast_id: uuid.UUID, session: TenantSession, principal: AnalystPrincipal
) -> ForecastEvaluationRead:
    """Analyst or above. Compares the forecast with the actual values that have arrived for its periods
    since it was made: error measures, the share of actuals inside each interval and, per period, the
    actual and whether it fell inside; periods still to come count as pending. The latest score is kept
    with the forecast. 404 for an unknown forecast or a metric that no longer exists."""
    forecast, evaluation = await service.evaluate(session, forecast_id)
    return ForecastEvaluationRead.from_row(
        evaluation,
        forecast_id=forecast.id,
        coverage={str(k): v for k, v in evaluation.coverage.items()},
        points=[
            EvaluationPointRead.from_row(p, inside={str(k): v for k, v in p.inside.items()})
            for p in evaluation.points
        ],
    )
