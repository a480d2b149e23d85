"""Every optimizer template's inputs built from the tenant's own data, each number with its source.

Reads go through the metrics service (and the evidence service for the marketing-mix model), in
the caller's tenant session and time zone. What the data cannot give is a :class:`MissingInputs`
(422) naming the metric that would let it — never a guessed number.

- ``inventory``: :func:`backend.services.optimizer.inputs.inventory_inputs`.
- ``budget_allocation``: the newest marketing-mix model's fitted curves; the budget defaults to the
  recent spend rate (each channel's mean spend per bucket over the planning period).
- ``staffing``: :func:`backend.services.optimizer.staffing_data.staffing_inputs` (demand per day
  and hour, the tenant's rate, the roster).
- ``product_mix``: each SKU's latest price and unit cost (bought in at that cost) and its weekly
  sales as the market's limit; price elasticities (log-log, with CI) where the price varied.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models.marketing_mix import MarketingMixModel
from backend.models.optimization import OptimizationRun
from backend.services.evidence import mmm_service
from backend.services.evidence.types import MmmFit
from backend.services.metrics.buckets import FilledValue
from backend.services.optimizer import SolveOptions
from backend.services.optimizer import service as optimizer_service
from backend.services.optimizer.elasticity import Elasticity, estimate_elasticity
from backend.services.optimizer.inputs import (
    COST_METRICS,
    DEMAND_METRICS,
    MissingInputs,
    inventory_inputs,
    latest_values,
    need_metric,
    rollup_by,
    span_label,
    tenant_catalog,
)
from backend.services.optimizer.mmm_curves import planning_buckets
from backend.services.optimizer.staffing_data import staffing_inputs
from backend.services.optimizer.types import DataTemplate, DerivedInputs, FromDataAsk, InputSource
from backend.services.tenant.service import tenant_zone
from backend.services.workload import Queued, Requester
from backend.utils.compute import ComputePool

PRICE_METRICS = ("price", "unit_price", "selling_price")
PRICE_HISTORY_DAYS = 365
SALES_WEEKS = 12
MMM_NEEDED = (
    "a marketing-mix model of the outcome and each channel's spend (POST /api/v1/evidence/mmm, "
    "from daily or weekly spend metrics per channel and the outcome)"
)


# --------------------------------------------------------------------------- budget allocation


@dataclass(frozen=True)
class BudgetInputs:
    model: MarketingMixModel
    fit: MmmFit
    budget: float
    days: float
    buckets: float
    derived: DerivedInputs


async def budget_inputs(session: AsyncSession, ask: FromDataAsk) -> BudgetInputs:
    """The newest MMM's curves and a budget (stated, or the recent spend rate over the period)."""
    model = await mmm_service.latest_model(session)
    if model is None:
        raise MissingInputs([MMM_NEEDED], "The budget plan comes from your own spend and outcome data.")
    fit = mmm_service.model_fit(model)
    buckets = planning_buckets(model.frequency, ask.planning_days)
    period = f"{model.data_start.date() if model.data_start else 'start'} to " + (
        f"{model.data_end.date()}" if model.data_end else "end"
    )
    source = f"marketing-mix model {model.id}"
    if ask.total_budget is not None:
        budget = ask.total_budget
        budget_method = "the stated budget"
    else:
        budget = sum(channel.mean_spend for channel in fit.channels) * buckets
        budget_method = (
            f"recent spend rate: the channels' mean spend per bucket x {buckets:g} buckets, {source}"
        )
    sources = [
        InputSource(label=f"budget over {ask.planning_days:g} days", value=budget, method=budget_method)
    ]
    for channel in fit.channels:
        for label, band in (
            (f"ROI of {channel.name}", channel.roi),
            (f"marginal ROI of {channel.name} at its mean spend", channel.marginal_roi),
        ):
            sources.append(
                InputSource.of_band(label, band, metric=model.outcome, period=period, method=source)
            )
    params = {"total_budget": budget, "mmm_model_id": str(model.id), "planning_days": ask.planning_days}
    derived = DerivedInputs(template="budget_allocation", params=params, sources=sources)
    return BudgetInputs(model, fit, budget, ask.planning_days, buckets, derived)


# --------------------------------------------------------------------------- product mix


@dataclass(frozen=True)
class ProductFacts:
    sku: str
    price: float
    unit_cost: float
    weekly_units: float
    elasticity: Elasticity | None
    refused: MissingInputs | None


@dataclass(frozen=True)
class ProductMixInputs:
    units_metric: str
    price_metric: str
    cost_metric: str
    period: str
    products: list[ProductFacts]
    derived: DerivedInputs

    def product(self, name: str) -> ProductFacts | None:
        wanted = name.lower()
        return next((p for p in self.products if p.sku.lower() == wanted), None)


def _paired(prices: Sequence[FilledValue], units: Sequence[FilledValue]) -> tuple[list[float], list[float]]:
    sold = {v.ts: v.value for v in units if v.value is not None}
    pairs = [(v.value, sold[v.ts]) for v in prices if v.value is not None and v.ts in sold]
    return [p for p, _ in pairs], [u for _, u in pairs]


def _facts(sku: str, prices: list[FilledValue], units: list[FilledValue], cost: float) -> ProductFacts:
    recent = [v.value or 0.0 for v in units[-7 * SALES_WEEKS :]]
    weekly = statistics.fmean(recent) * 7 if recent else 0.0
    price = next(v.value for v in reversed(prices) if v.value is not None)
    try:
        elasticity: Elasticity | None = estimate_elasticity(sku, *_paired(prices, units))
        refused = None
    except MissingInputs as missing:
        elasticity, refused = None, missing
    return ProductFacts(sku, price, cost, weekly, elasticity, refused)


def _sources(*rows: tuple[str, float, str, str, str]) -> list[InputSource]:
    """Input sources from (label, value, metric, period, method) rows."""
    return [
        InputSource(label=label, value=value, metric=metric, period=period, method=method)
        for label, value, metric, period, method in rows
    ]


def _mix_sources(found: list[ProductFacts], metrics: tuple[str, str, str], period: str) -> list[InputSource]:
    units_metric, price_metric, cost_metric = metrics
    sources = []
    for p in found:
        sources += _sources(
            (f"price of {p.sku}", p.price, price_metric, period, "latest daily average"),
            (f"unit cost of {p.sku}", p.unit_cost, cost_metric, period, "latest value"),
            (
                f"weekly units of {p.sku}",
                p.weekly_units,
                units_metric,
                period,
                f"mean daily units over the last {SALES_WEEKS} weeks x 7",
            ),
        )
        if p.elasticity is not None:
            e = p.elasticity
            sources.append(
                InputSource.of_band(
                    f"price elasticity of {p.sku}",
                    e,
                    metric=units_metric,
                    period=period,
                    method=f"log-log OLS of daily units on price over {e.days} days "
                    f"(prices {e.price_low:.2f} to {e.price_high:.2f}, R² {e.r2:.2f}); 95% CI",
                )
            )
    return sources


async def product_mix_inputs(
    session: AsyncSession, zone: ZoneInfo, now: datetime | None = None
) -> ProductMixInputs:
    """Per SKU: latest price and cost, weekly sales, and the price elasticity where the price varied."""
    catalog = await tenant_catalog(session)
    units_metric = need_metric(catalog, DEMAND_METRICS, "units sold per SKU (with a 'sku' dimension)")
    price_metric = need_metric(catalog, PRICE_METRICS, "the selling price per SKU (with a 'sku' dimension)")
    cost_metric = need_metric(catalog, COST_METRICS, "unit cost per SKU (with a 'sku' dimension)")
    local = (now or datetime.now(UTC)).astimezone(zone)
    end = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    window = (end - timedelta(days=PRICE_HISTORY_DAYS), end)
    units = await rollup_by(
        session, units_metric, zone, bucket="day", aggregation="sum", window=window, fill="zero"
    )
    prices = await rollup_by(
        session, price_metric, zone, bucket="day", aggregation="avg", window=window, fill="none"
    )
    costs = latest_values(
        await rollup_by(
            session, cost_metric, zone, bucket="day", aggregation="last", window=window, fill="none"
        )
    )
    skus = sorted(
        sku for sku in units if sku in costs and any(v.value is not None for v in prices.get(sku, []))
    )
    if not skus:
        raise MissingInputs(
            [
                f"{units_metric}, {price_metric} and {cost_metric} for the same SKUs "
                f"in the last {PRICE_HISTORY_DAYS} days"
            ],
            "A product's margin and sales come from them.",
        )
    found = [_facts(sku, prices[sku], units[sku], costs[sku].value) for sku in skus]
    period = span_label(*window)
    params = {
        "products": [
            {"name": p.sku, "price": p.price, "buy_cost": p.unit_cost, "max_sales": p.weekly_units}
            for p in found
        ]
    }
    notes = [f"{p.sku}: {p.refused.why}" for p in found if p.refused is not None]
    derived = DerivedInputs(
        template="product_mix",
        params=params,
        sources=_mix_sources(found, (units_metric, price_metric, cost_metric), period),
        notes=notes,
    )
    return ProductMixInputs(units_metric, price_metric, cost_metric, period, found, derived)


# --------------------------------------------------------------------------- any template


async def _inventory(session: AsyncSession, zone: ZoneInfo, ask: FromDataAsk) -> DerivedInputs:
    found = await inventory_inputs(session, zone, lead_weeks=ask.lead_time_weeks)
    span, names = found.window.demand_span, found.metrics
    sources = []
    for sku in found.skus:
        sources += _sources(
            (
                f"demand of {sku.sku} over the lead time",
                sku.demand_mean,
                names.demand,
                span,
                "mean weekly units x lead weeks",
            ),
            (
                f"demand spread of {sku.sku}",
                sku.demand_std,
                names.demand,
                span,
                "weekly standard deviation x √lead weeks",
            ),
            (
                f"on hand of {sku.sku}",
                sku.on_hand.value,
                names.stock,
                sku.on_hand.ts.date().isoformat(),
                "latest value",
            ),
            (
                f"unit cost of {sku.sku}",
                sku.unit_cost.value,
                names.cost,
                sku.unit_cost.ts.date().isoformat(),
                "latest value",
            ),
        )
    return DerivedInputs(template="inventory", params=found.params(), sources=sources)


async def _staffing(session: AsyncSession, zone: ZoneInfo, ask: FromDataAsk) -> DerivedInputs:
    found = await staffing_inputs(session, zone, ask)
    if found.derived is None:
        assert found.roster_missing is not None
        raise found.roster_missing
    return found.derived


async def derive(
    session: AsyncSession, zone: ZoneInfo, template: DataTemplate, ask: FromDataAsk
) -> DerivedInputs:
    """``template``'s parameters from the tenant's data; ``MissingInputs`` (422) names what lacks."""
    if template == "budget_allocation":
        return (await budget_inputs(session, ask)).derived
    if template == "staffing":
        return await _staffing(session, zone, ask)
    if template == "product_mix":
        return (await product_mix_inputs(session, zone)).derived
    return await _inventory(session, zone, ask)


@dataclass(frozen=True)
class DataRun:
    """A run solved (or queued) on inputs built from data."""

    inputs: DerivedInputs
    outcome: OptimizationRun | Queued


async def solve_from_data(
    session: AsyncSession,
    pool: ComputePool,
    template: DataTemplate,
    ask: FromDataAsk,
    options: SolveOptions,
    requester: Requester,
) -> DataRun:
    """Build ``template``'s inputs from the data, then validate, solve and store the run as usual."""
    inputs = await derive(session, await tenant_zone(session), template, ask)
    prepared = await optimizer_service.prepare_run(
        session, template=template, params=inputs.params, options=options
    )
    return DataRun(inputs, await optimizer_service.solve(session, pool, prepared, requester))
