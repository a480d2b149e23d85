"""Currency conversion of rollups: pure computation (plain data in, plain data out, no I/O).

The model:

- A metric's currency is its definition's ``currency`` (ISO 4217). A point can override it
  with a ``currency`` dimension (a Shopify store selling in EUR while the metric is in USD).
  A point with neither has no currency: it cannot be converted, and a read that must convert
  it is refused.
- Values in different currencies are never added without a rate. A rollup read in a target
  currency converts each point with the rate of the point's own day (its date in the tenant's
  time zone), then aggregates: a monthly sum of EUR sales is the sum of each day's EUR total
  times that day's rate, not the month's total times one rate.
- Rates are ``(base, quote, day, rate)``: ``1 base = rate quote``. A pair is used directly or
  inverted (``1 / rate``), whichever was loaded. A rate applies to its day; a day without one
  uses the most recent earlier rate of the 7 days before it: reference rates (the ECB's, a
  bank's) are published on business days only, so weekends and public holidays — up to a
  week around Christmas or the Lunar New Year — have none, and markets value those days at
  the last published rate. A longer gap means the feed stopped: an old rate would quietly
  mislead, so the conversion is refused instead (422 ``missing_exchange_rate``, naming the
  pair and the first day without a rate).

The SQL side (``backend.services.metrics.rates``) groups points per bucket, day and currency
and attaches each group's rate; this module combines those day partials into buckets under
each aggregation, so both entry points (``converted_rollup`` and ``convert_buckets``) share
one definition of what a converted sum, average, minimum, maximum or last value is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from backend.services.errors import ValidationFailed
from backend.utils.currencies import ISO_4217_CODES

# How far back a day without a rate may look for one (see the module docstring).
RATE_FALLBACK_DAYS = 7
CONVERTIBLE_AGGREGATIONS = ("sum", "avg", "min", "max", "last", "count")


class DayPartial(NamedTuple):
    """The points of one bucket (and group), local day and currency, aggregated in that currency.

    ``total`` is the day's sum, ``low``/``high`` its extremes and ``last_value`` the value of
    its latest point (at ``last_ts``), needed (and filled) only for the ``last`` aggregation.
    """

    bucket: datetime
    group_value: str | None
    day: date
    currency: str | None
    total: float
    points: int
    low: float
    high: float
    last_value: float | None
    last_ts: datetime


class RatedPartial(NamedTuple):
    """A day partial with the rate that turns its currency into the target (None: no rate)."""

    partial: DayPartial
    rate: float | None


class ConvertedBucket(NamedTuple):
    """One converted rollup row, shaped like the rollup's ``(bucket, group_value, value, points)``.

    ``converted`` is True when any point of the bucket was in another currency than the target.
    """

    bucket: datetime
    group_value: str | None
    value: float
    points: int
    converted: bool


@dataclass(frozen=True)
class ConvertedRollup:
    currency: str | None  # None: the points have no currency (not a money metric)
    rows: list[ConvertedBucket]  # ordered by group (nulls first), then bucket

    @property
    def converted(self) -> bool:
        return any(row.converted for row in self.rows)


class MissingExchangeRate(ValidationFailed):
    code = "missing_exchange_rate"


class MissingCurrency(ValidationFailed):
    code = "missing_currency"


class MixedCurrencies(ValidationFailed):
    code = "mixed_currencies"


def own_currency(partials: Iterable[DayPartial]) -> str | None:
    """The one currency of points read without a target; points in several are never added."""
    currencies = {partial.currency for partial in partials}
    if len(currencies) > 1:
        named = sorted(currency or "none" for currency in currencies)
        raise MixedCurrencies(
            f"the points are in several currencies ({', '.join(named)}) and are never added without "
            "a rate: set the tenant's reporting_currency (PATCH /api/v1/tenants/me) or the metric's "
            "currency, and load exchange rates",
            context={"currencies": named},
        )
    return next(iter(currencies), None)


def combine(rated: Iterable[RatedPartial], *, to: str | None, aggregation: str) -> list[ConvertedBucket]:
    """Converted buckets from rated day partials, in the order buckets first appear.

    ``to`` None reads partials that all have no currency (see ``own_currency``) as they are.

    Raises ``MissingCurrency`` for points without a currency and ``MissingExchangeRate`` (the
    earliest day lacking a rate) when any partial in another currency has no rate; ``count``
    needs no rate. Nothing is returned partly converted.
    """
    if aggregation not in CONVERTIBLE_AGGREGATIONS:
        raise ValidationFailed(f"aggregation {aggregation!r} cannot be converted", context={"field": "agg"})
    groups: dict[tuple[str | None, datetime], list[RatedPartial]] = {}
    for item in rated:
        groups.setdefault((item.partial.group_value, item.partial.bucket), []).append(item)
    if aggregation != "count" and to is not None:
        _check_rates([item for items in groups.values() for item in items], to)
    return [_bucket(items, to=to, aggregation=aggregation) for items in groups.values()]


def _check_rates(rated: Sequence[RatedPartial], to: str) -> None:
    if any(item.partial.currency is None for item in rated):
        raise MissingCurrency(
            f"some points have no currency, so they cannot be read in {to}: declare the metric's "
            "currency (PUT /api/v1/metrics/{name}/definition) or give the points a 'currency' dimension",
            context={"to": to},
        )
    missing = [item.partial for item in rated if item.rate is None and item.partial.currency != to]
    if missing:
        first = min(missing, key=lambda partial: (partial.day, partial.currency or ""))
        raise missing_rate(str(first.currency), to, first.day)


def missing_rate(base: str, to: str, day: date) -> MissingExchangeRate:
    """The 422 for a conversion with no usable rate."""
    hint = "" if base in ISO_4217_CODES else f" ({base!r} is not an ISO 4217 currency code)"
    return MissingExchangeRate(
        f"no {base}→{to} exchange rate for {day.isoformat()} or the {RATE_FALLBACK_DAYS} days "
        f"before it{hint}; load rates with POST /api/v1/exchange-rates (either direction works)",
        context={"base": base, "quote": to, "day": day.isoformat(), "fallback_days": RATE_FALLBACK_DAYS},
    )


def _rate(item: RatedPartial, to: str | None) -> float:
    if item.partial.currency == to:
        return 1.0
    assert item.rate is not None  # checked by _check_rates
    return item.rate


def _bucket(items: Sequence[RatedPartial], *, to: str | None, aggregation: str) -> ConvertedBucket:
    first = items[0].partial
    points = sum(item.partial.points for item in items)
    converted = any(item.partial.currency != to for item in items)
    if aggregation == "count":
        return ConvertedBucket(first.bucket, first.group_value, float(points), points, False)
    if aggregation in ("sum", "avg"):
        total = sum(item.partial.total * _rate(item, to) for item in items)
        value = total if aggregation == "sum" else total / points
    elif aggregation == "min":
        value = min(item.partial.low * _rate(item, to) for item in items)
    elif aggregation == "max":
        value = max(item.partial.high * _rate(item, to) for item in items)
    else:  # last: the latest point's value, at its own day's rate
        latest = max(items, key=lambda item: item.partial.last_ts)
        if latest.partial.last_value is None:
            raise ValueError("day partials for 'last' must carry last_value")
        value = latest.partial.last_value * _rate(latest, to)
    if not math.isfinite(value):
        raise ValidationFailed(
            "a converted value is too large to represent; check the rates and the values",
            code="conversion_overflow",
            context={"bucket": first.bucket.isoformat()},
        )
    return ConvertedBucket(first.bucket, first.group_value, value, points, converted)
