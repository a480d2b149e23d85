"""External benchmarks: industry reference percentiles and where the tenant stands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import JSONResponse

from backend.dependencies import AdminPrincipal, AppSettings, CurrentPrincipal, PageParams, TenantSession
from backend.routes.jobs import job_accepted
from backend.schemas.benchmarks import BenchmarkComparison, BenchmarkComparisonRead, BenchmarkRead
from backend.schemas.common import Page
from backend.schemas.jobs import JobAccepted
from backend.services.benchmarks import service
from backend.utils.error_handlers import error_responses

router = APIRouter(prefix="/api/v1/benchmarks", tags=["benchmarks"], responses=error_responses(401, 403, 422))


@router.get("", summary="Industry benchmarks")
async def list_benchmarks(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    industry: Annotated[str | None, Query(max_length=100)] = None,
    metric: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[BenchmarkRead]:
    """Industry reference values (25th, 50th and 75th percentiles per period) with the source and URL each
    was published at, optionally of one `industry` or `metric`."""
    rows, total = await service.list_benchmarks(session, industry=industry, metric=metric, window=page)
    return Page.of([BenchmarkRead.model_validate(r) for r in rows], total, page)


@router.get(
    "/compare",
    summary="Place the tenant's own value among an industry benchmark's percentiles",
    responses=error_responses(404),
)
async def compare_benchmarks(
    session: TenantSession,
    principal: CurrentPrincipal,
    metric: Annotated[str, Query(max_length=100)],
    industry: Annotated[
        str | None, Query(max_length=100, description="Default: the tenant's industry.")
    ] = None,
) -> BenchmarkComparison:
    """Computes the tenant's own value of `metric` over each benchmark's period (the last complete one) and
    places it among the benchmark's percentiles. The industry defaults to the tenant's (422 when neither
    is set); 404 when no benchmark exists for the metric in the industry."""
    chosen, comparisons = await service.compare(session, metric=metric, industry=industry)
    return BenchmarkComparison(
        metric=metric,
        industry=chosen,
        comparisons=[
            BenchmarkComparisonRead(
                benchmark=BenchmarkRead.model_validate(c.benchmark),
                period_start=c.period_start,
                period_end=c.period_end,
                aggregation=c.aggregation,
                tenant_value=c.tenant_value,
                position=c.position,
                estimated_percentile=c.estimated_percentile,
            )
            for c in comparisons
        ],
    )


@router.post(
    "/import",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import benchmarks from CSV (owner/admin of an operator tenant; provenance required)",
    description=(
        "Columns: industry, metric, period (day/week/month/quarter/year), p25, p50, p75, source, source_url, "
        "year. Every row must cite its source and the URL it was published at. The file is validated at once "
        "(422, nothing queued); the import runs as a background job: 202 with the job id, whose result is "
        '`{"imported": rows written}` (a row replaces one with the same industry, metric, period, year '
        "and source). All rows or none are written."
    ),
    responses=error_responses(413),
)
async def import_benchmarks(
    file: Annotated[UploadFile, File(description="The benchmark CSV (UTF-8).")],
    session: TenantSession,
    principal: AdminPrincipal,
    settings: AppSettings,
) -> JSONResponse:
    queued = await service.queue_import(
        session, settings, principal.tenant_id, await file.read(), requested_by=principal.user_id
    )
    return job_accepted(queued)
