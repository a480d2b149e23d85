"""Exchange rates: load by JSON or file, and list what is stored."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from backend.dependencies import AnalystPrincipal, CurrentPrincipal, PageParams, TenantSession
from backend.schemas.common import Page, SupportedDate
from backend.schemas.exchange_rates import (
    CurrencyCode,
    ExchangeRateBatchIn,
    ExchangeRateLoadRead,
    ExchangeRateRead,
    ExchangeRateUploadRead,
)
from backend.services.errors import PayloadTooLarge, ValidationFailed
from backend.services.metrics import rates as service
from backend.services.metrics.rate_upload import RateRow
from backend.services.metrics.rates import RateCounts, RateFilter
from backend.utils.error_handlers import error_responses

router = APIRouter(
    prefix="/api/v1/exchange-rates", tags=["exchange rates"], responses=error_responses(401, 422)
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _load_read(counts: RateCounts) -> ExchangeRateLoadRead:
    return ExchangeRateLoadRead(
        received=counts.received, inserted=counts.inserted, updated=counts.updated, unchanged=counts.unchanged
    )


@router.post(
    "",
    summary="Load exchange rates (idempotent, all-or-nothing)",
    responses=error_responses(403),
)
async def load_exchange_rates(
    body: ExchangeRateBatchIn, session: TenantSession, principal: AnalystPrincipal
) -> ExchangeRateLoadRead:
    """Up to 10,000 rates, `1 base = rate quote` on `day`. A stored (base, quote, day) takes the
    new rate. Load a pair in either direction: conversions use the inverse too. A day without a
    rate uses the most recent rate of the 7 days before it; past that, a conversion is refused."""
    rates = [RateRow(r.day, r.base, r.quote, r.rate) for r in body.rates]
    return _load_read(await service.load_rates(session, rates))


@router.post(
    "/upload",
    summary="Upload a CSV or .xlsx file of exchange rates (dry run available)",
    description=(
        "Columns `day,base,quote,rate` (a header row, any order). Every bad cell is reported by row "
        "and column in the 422's details, and nothing is stored unless every row is valid. At most "
        f"{service.MAX_UPLOAD_RATES:,} data rows."
    ),
    responses=error_responses(403, 413),
)
async def upload_exchange_rates(
    session: TenantSession,
    principal: AnalystPrincipal,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or .xlsx, at most 20 MiB.")],
    dry_run: Annotated[bool, Form(description="Parse and validate only; store nothing.")] = False,
) -> ExchangeRateUploadRead:
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"uploads are limited to {MAX_UPLOAD_BYTES} bytes", context={"limit_bytes": MAX_UPLOAD_BYTES}
        )
    parsed = await asyncio.to_thread(
        service.parse_rate_upload, file.file, filename=file.filename or "rates.csv"
    )
    parsed.raise_if_any("problem(s) in the file; nothing was stored")
    if not parsed.rates:
        raise ValidationFailed("the file has no data rows")
    counts = None if dry_run else await service.upsert_rates(session, parsed.rates)
    days = [rate.day for rate in parsed.rates]
    return ExchangeRateUploadRead(
        dry_run=dry_run,
        rows_read=parsed.rows_read,
        pairs=sorted({f"{rate.base}/{rate.quote}" for rate in parsed.rates}),
        first_day=min(days),
        last_day=max(days),
        result=_load_read(counts) if counts else None,
    )


@router.get("", summary="Stored exchange rates, newest day first")
async def list_exchange_rates(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    base: Annotated[CurrencyCode | None, Query()] = None,
    quote: Annotated[CurrencyCode | None, Query()] = None,
    start: Annotated[SupportedDate | None, Query(description="First day (inclusive).")] = None,
    end: Annotated[SupportedDate | None, Query(description="Last day (exclusive).")] = None,
) -> Page[ExchangeRateRead]:
    """The daily rates loaded for currency conversion, filtered by `base`, `quote` and a day range (422 when
    `end` is not after `start`). Any role. Rollups in the tenant's reporting currency use the latest rate
    on or before each point's day."""
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("end must be after start", context={"field": "end"})
    rows, total = await service.list_rates(
        session,
        RateFilter(base=base, quote=quote, start=start, end=end),
        page,
    )
    return Page.of([ExchangeRateRead.model_validate(row) for row in rows], total, page)
