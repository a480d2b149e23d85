"""Exchange rates: loading, listing, and the converted reads of money metrics.

What a currency and a rate mean, and why a missing day may use a rate of the 7 days before
it, is written in ``backend.services.metrics.currency``. The read path calls:

- ``converted_rollup(session, metric=, sources=, start=, end=, bucket=, zone=, to=, aggregation=)``
  — a rollup of ``business_metrics`` (the sources the definition's source rule picked)
  converted into ``to`` with the rate of each point's local day, in one statement;
- ``convert_buckets(session, partials, to=, aggregation=)`` — the same conversion for day
  partials a caller already holds;
- ``target_currency(session, metric_currency)`` — the currency a read should come back in
  (pass it as ``to``; None reads the points' own single currency).

Like every repository, each statement names the tenant (RLS is the first fence).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ExchangeRate
from backend.services.errors import Problem, ValidationFailed
from backend.services.metrics.buckets import FIXED_ORIGIN, Bucket
from backend.services.metrics.currency import (
    RATE_FALLBACK_DAYS,
    ConvertedBucket,
    ConvertedRollup,
    DayPartial,
    RatedPartial,
    combine,
    own_currency,
)
from backend.services.metrics.points import EARLIEST_TS, LATEST_TS
from backend.services.metrics.rate_upload import ParsedRates, RateRow, parse_rate_rows
from backend.services.metrics.upload import file_rows
from backend.services.tenant.service import get_current_tenant
from backend.utils.currencies import currency_problem
from backend.utils.database import driver_fetch, session_tenant
from backend.utils.repository import PageWindow, paginate, tenant_select, where_given
from backend.utils.row_errors import MAX_REPORTED_ERRORS

MAX_UPLOAD_RATES = 200_000
# Rates per upsert statement: a big upload goes in several, in the request's transaction.
UPSERT_CHUNK_RATES = 50_000

_UPSERT = """
with incoming as (
    select (e->>0)::date as day, e->>1 as base, e->>2 as quote, (e->>3)::float8 as rate
    from json_array_elements($2::text::json) as e
), written as (
    insert into exchange_rates as r (tenant_id, base, quote, day, rate)
    select $1, base, quote, day, rate from incoming
    on conflict (tenant_id, base, quote, day) do update
        set rate = excluded.rate, updated_at = now()
        where r.rate is distinct from excluded.rate
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated
from written
"""


def _rate_lateral(tenant: str, to: str, fallback: str) -> str:
    """The rate turning ``p.currency`` into ``to`` on ``p.day``: the direct pair or the inverse,
    from the most recent day of ``[p.day - fallback, p.day]`` (the direct pair on a tie)."""
    window = f"r.day <= p.day and r.day >= p.day - {fallback}"
    return f"""
    left join lateral (
        select candidate.rate from (
            (select r.rate, r.day, 0 as inverted from exchange_rates r
             where r.tenant_id = {tenant} and r.base = p.currency and r.quote = {to} and {window}
             order by r.day desc limit 1)
            union all
            (select 1 / r.rate, r.day, 1 from exchange_rates r
             where r.tenant_id = {tenant} and r.base = {to} and r.quote = p.currency and {window}
             order by r.day desc limit 1)
        ) candidate order by candidate.day desc, candidate.inverted limit 1
    ) rate on p.currency <> {to}"""  # noqa: S608 - only $n placeholders are interpolated


@dataclass(frozen=True)
class RateCounts:
    received: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.received - self.inserted - self.updated


async def upsert_rates(session: AsyncSession, rates: Sequence[RateRow]) -> RateCounts:
    """Store validated rates (each (base, quote, day) once): a stored day takes the new rate."""
    inserted = updated = 0
    for offset in range(0, len(rates), UPSERT_CHUNK_RATES):
        chunk = rates[offset : offset + UPSERT_CHUNK_RATES]
        (row,) = await driver_fetch(
            session, _UPSERT, session_tenant(session), orjson.dumps([tuple(rate) for rate in chunk]).decode()
        )
        inserted, updated = inserted + int(row["inserted"]), updated + int(row["updated"])
    return RateCounts(received=len(rates), inserted=inserted, updated=updated)


async def load_rates(session: AsyncSession, rates: Sequence[RateRow]) -> RateCounts:
    """Store a batch of validated rates, all or nothing: a (pair, day) given twice is refused."""
    repeats = _repeated_indexes(rates)
    if repeats:
        raise ValidationFailed(
            "The request is not valid; see details.problems",
            problems=[
                Problem(
                    code="duplicate_rate",
                    message=f"repeats the currency pair and day of rates[{first}]",
                    field=f"rates.{index}.day",
                    location="body",
                )
                for index, first in repeats[:MAX_REPORTED_ERRORS]
            ],
        )
    return await upsert_rates(session, rates)


def _repeated_indexes(rates: Sequence[RateRow]) -> list[tuple[int, int]]:
    """``(index, index of its first occurrence)`` for each rate repeating an earlier (pair, day)."""
    first: dict[tuple[str, str, date], int] = {}
    repeats: list[tuple[int, int]] = []
    for index, rate in enumerate(rates):
        key = (rate.base, rate.quote, rate.day)
        if key in first:
            repeats.append((index, first[key]))
        else:
            first[key] = index
    return repeats


def parse_rate_upload(stream: IO[bytes], *, filename: str) -> ParsedRates:
    """CPU-bound: call it in a worker thread."""
    rows = file_rows(stream, filename)
    return parse_rate_rows(rows, max_rows=MAX_UPLOAD_RATES)


@dataclass(frozen=True)
class RateFilter:
    base: str | None = None
    quote: str | None = None
    start: date | None = None  # inclusive
    end: date | None = None  # exclusive


async def list_rates(
    session: AsyncSession, filters: RateFilter, window: PageWindow
) -> tuple[list[ExchangeRate], int]:
    """Stored rates, newest day first, and how many match."""
    statement = where_given(
        tenant_select(session, ExchangeRate),
        (ExchangeRate.base, filters.base),
        (ExchangeRate.quote, filters.quote),
    )
    if filters.start is not None:
        statement = statement.where(ExchangeRate.day >= filters.start)
    if filters.end is not None:
        statement = statement.where(ExchangeRate.day < filters.end)
    order = (ExchangeRate.day.desc(), ExchangeRate.base, ExchangeRate.quote)
    return await paginate(session, statement, order_by=order, window=window)


async def target_currency(session: AsyncSession, metric_currency: str | None) -> str | None:
    """The currency a read of a metric comes back in: the tenant's reporting currency when set,
    else the metric's own. None: neither is set, so ``converted_rollup(to=None)`` reads the points
    in their own currency (refusing several) or, for a metric that is not money, in none."""
    tenant = await get_current_tenant(session)
    return tenant.reporting_currency or metric_currency


class _Params:
    """``$n`` placeholders for asyncpg, numbered as values are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def converted_rollup(
    session: AsyncSession,
    *,
    metric: str,
    sources: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    bucket: Bucket,
    zone: ZoneInfo,
    to: str | None,
    aggregation: str,
    dimensions: Mapping[str, str] | None = None,
    group_by: str | None = None,
) -> ConvertedRollup:
    """A rollup of ``metric`` (points of ``sources`` in ``[start, end)``) read in currency ``to``.

    Each point's currency is its ``currency`` dimension, else the metric definition's; each is
    converted with the rate of the point's day in ``zone`` (see ``currency.py``). Rows come
    ordered by group (nulls first), then bucket, each flagged ``converted``. Raises 422
    ``missing_exchange_rate`` (pair and first day without a rate) or ``missing_currency``.

    ``to`` None (no reporting currency, no metric currency): the points are read in their own
    currency, which must be one (else 422 ``mixed_currencies``), or none for non-money metrics.
    """
    if to is not None:
        _check_currency(to)
    query = _RollupQuery(
        metric, sources, start, end, bucket, zone, to, aggregation, dimensions or {}, group_by
    )
    statement, args = _rollup_statement(session, query)
    records = await driver_fetch(session, statement, *args)
    rated = [RatedPartial(DayPartial(*record[:10]), record[10]) for record in records]
    target = to if to is not None else own_currency(item.partial for item in rated)
    return ConvertedRollup(currency=target, rows=combine(rated, to=target, aggregation=aggregation))


@dataclass(frozen=True)
class _RollupQuery:
    metric: str
    sources: Sequence[str]
    start: datetime | None
    end: datetime | None
    bucket: Bucket
    zone: ZoneInfo
    to: str | None
    aggregation: str
    dimensions: Mapping[str, str]
    group_by: str | None


# Calendar buckets that hold whole local days: points are grouped per day first, and each day's
# bucket is computed once per day rather than once per point.
_WHOLE_DAY_UNITS = frozenset({"day", "week", "month", "quarter", "year"})


def _rollup_statement(session: AsyncSession, query: _RollupQuery) -> tuple[str, list[Any]]:
    params = _Params()
    tenant, name, zone = (
        params.add(session_tenant(session)),
        params.add(query.metric),
        params.add(query.zone.key),
    )
    where = [
        f"m.tenant_id = {tenant}",
        f"m.metric = {name}",
        f"m.source = any({params.add(list(query.sources))}::text[])",
        f"m.ts >= {params.add(max(query.start or EARLIEST_TS, EARLIEST_TS))}",
        f"m.ts < {params.add(min(query.end or LATEST_TS, LATEST_TS))}",
    ]
    if query.dimensions:
        where.append(f"m.dimensions @> {params.add(json.dumps(dict(query.dimensions)))}::jsonb")
    group_sql = f"m.dimensions ->> {params.add(query.group_by)}" if query.group_by else "null::text"
    bucket = query.bucket
    if bucket.unit in _WHOLE_DAY_UNITS:
        per_point, per_day = (
            "",
            f"(date_trunc({params.add(bucket.unit)}, p.day::timestamp) at time zone {zone})",
        )
    else:
        per_point = (
            f"date_trunc({params.add(bucket.unit)}, ts, {zone})"
            if bucket.unit is not None
            else f"date_bin({params.add(bucket.interval)}::interval, ts, {params.add(FIXED_ORIGIN)})"
        ) + " as bucket, "
        per_day = "p.bucket"
    # The latest value needs a sort per group: only "last" pays for it.
    last_sql = "(array_agg(value order by ts desc))[1]" if query.aggregation == "last" else "null::float8"
    rate = _rate_lateral(tenant, params.add(query.to), params.add(RATE_FALLBACK_DAYS) + "::int")
    statement = f"""
with definition as materialized (
    select currency from metric_definitions where tenant_id = {tenant} and name = {name}
), point as (
    select m.ts, m.value, {group_sql} as group_value, (m.ts at time zone {zone})::date as day,
        coalesce(upper(m.dimensions ->> 'currency'), (select currency from definition)) as currency
    from business_metrics m
    where {" and ".join(where)}
), p as (
    select {per_point}group_value, day, currency, sum(value) as total, count(*)::int as points,
        min(value) as low, max(value) as high, {last_sql} as last_value, max(ts) as last_ts
    from point group by {per_point.replace(" as bucket, ", ", ")}group_value, day, currency
)
select {per_day} as bucket, p.group_value, p.day, p.currency, p.total, p.points, p.low, p.high,
    p.last_value, p.last_ts, rate.rate
from p {rate}
order by p.group_value nulls first, 1, p.day, p.currency
"""  # noqa: S608 - every value is a parameter; only fixed SQL fragments are interpolated
    return statement, params.values


async def convert_buckets(
    session: AsyncSession, partials: Sequence[DayPartial], *, to: str, aggregation: str
) -> list[ConvertedBucket]:
    """Convert day partials a caller already aggregated (per bucket, day and currency) into ``to``,
    with the same rates and rules as ``converted_rollup``; buckets in the order they first appear."""
    _check_currency(to)
    needed = sorted({(p.currency, p.day) for p in partials if p.currency is not None and p.currency != to})
    rates: dict[tuple[str, date], float | None] = {}
    if needed:
        params = _Params()
        tenant, currencies, days = (
            params.add(session_tenant(session)),
            params.add([c for c, _ in needed]),
            params.add([d for _, d in needed]),
        )
        target = params.add(to)
        lateral = _rate_lateral(tenant, target, params.add(RATE_FALLBACK_DAYS) + "::int")
        records = await driver_fetch(
            session,
            f"select p.currency, p.day, rate.rate from unnest({currencies}::text[], {days}::date[]) "  # noqa: S608
            f"as p(currency, day) {lateral}",
            *params.values,
        )
        rates = {(record[0], record[1]): record[2] for record in records}
    rated = [RatedPartial(p, rates.get((p.currency or "", p.day))) for p in partials]
    return combine(rated, to=to, aggregation=aggregation)


def _check_currency(code: str) -> None:
    problem = currency_problem(code)
    if problem:
        raise ValidationFailed(problem, context={"field": "currency"})
