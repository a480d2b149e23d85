"""Every optimizer template's inputs built from the tenant's own data, each number with its source.

Reads go through the metrics service (and the evidence service for the marketing-mix model), in
the caller's tenant session and time zone. What the data cannot give is a :class:`MissingInputs`
(422) naming the metric that would let it — never a guessed number.

- ``inventory``: :func:`backend.services.optimizer.inputs.inventory_inputs`.
- ``budget_allocation``: the newest marketing-mix model's fitted curves; the budget defaults to the
  recent spend rate (each channel's mean spend per bucket over the planning period).
- ``staffing``: next week's demand per day from the weekday pattern of the last weeks of an
  orders-like metric, served at the tenant's own rate (demand per staff hour from ``staff_hours``);
  the roster from ``staff_hours`` per ``employee`` and an hourly wage metric. When the demand is
  recorded by the hour, each day is cut into shifts staffed for their busiest hour
  (:mod:`backend.services.optimizer.hourly`).
- ``product_mix``: each SKU's latest price and unit cost (bought in at that cost) and its weekly
  sales as the market's limit; price elasticities (log-log, with CI) where the price varied.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models.marketing_mix import MarketingMixModel
from backend.models.optimization import OptimizationRun
from backend.services.evidence import mmm_service
from backend.services.evidence.types import Interval, MmmFit
from backend.services.metrics import service as metrics_service
from backend.services.metrics.buckets import FilledValue
from backend.services.metrics.repository import CatalogEntry
from backend.services.optimizer import SolveOptions
from backend.services.optimizer import service as optimizer_service
from backend.services.optimizer.elasticity import Elasticity, estimate_elasticity
from backend.services.optimizer.hourly import (
    ShiftNeed,
    hour_history,
    is_hourly,
    opening_hours,
    shift_blocks,
    shift_needs,
)
from backend.services.optimizer.inputs import (
    CATALOG_LIMIT,
    COST_METRICS,
    DEMAND_METRICS,
    MissingInputs,
    Observed,
    first_of,
    inventory_inputs,
    latest_values,
    rollup_by,
)
from backend.services.optimizer.mmm_curves import planning_buckets
from backend.services.optimizer.scenarios import DayNeed, day_needs
from backend.services.optimizer.types import DataTemplate, DerivedInputs, FromDataAsk, InputSource
from backend.services.tenant.service import tenant_zone
from backend.services.workload import Queued, Requester
from backend.utils.compute import ComputePool
from backend.utils.repository import PageWindow

STAFF_DEMAND_METRICS = ("orders", "transactions", "customers", "footfall", "visits")
STAFF_HOURS_METRICS = ("staff_hours", "labour_hours", "labor_hours", "hours_worked")
WAGE_METRICS = ("hourly_wage", "hourly_cost", "wage_rate")
PRICE_METRICS = ("price", "unit_price", "selling_price")
EMPLOYEE_DIMENSION = "employee"
ROSTER_WHY = "Without a roster only the staff count per day can be given, not a schedule."
STAFF_HISTORY_WEEKS = 8
PRICE_HISTORY_DAYS = 365
SALES_WEEKS = 12
MMM_NEEDED = (
    "a marketing-mix model of the outcome and each channel's spend (POST /api/v1/evidence/mmm, "
    "from daily or weekly spend metrics per channel and the outcome)"
)


async def _catalog(session: AsyncSession) -> dict[str, CatalogEntry]:
    entries, _ = await metrics_service.list_catalog(session, PageWindow(CATALOG_LIMIT))
    return {entry.name: entry for entry in entries}


def _need(catalog: dict[str, CatalogEntry], names: tuple[str, ...], what: str) -> str:
    found = first_of(catalog, names)
    if found is None:
        raise MissingInputs([f"{what} (a metric named one of {', '.join(names)})"], "Ingest it as a metric.")
    return found


def _span(start: datetime, end: datetime) -> str:
    return f"{start.date().isoformat()} to {(end - timedelta(days=1)).date().isoformat()}"


def _interval_source(label: str, value: Interval, metric: str, period: str, method: str) -> InputSource:
    return InputSource(
        label=label,
        value=value.value,
        low=value.low,
        high=value.high,
        metric=metric,
        period=period,
        method=method,
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
        sources.append(_interval_source(f"ROI of {channel.name}", channel.roi, model.outcome, period, source))
        sources.append(
            _interval_source(
                f"marginal ROI of {channel.name} at its mean spend",
                channel.marginal_roi,
                model.outcome,
                period,
                source,
            )
        )
    params = {"total_budget": budget, "mmm_model_id": str(model.id), "planning_days": ask.planning_days}
    derived = DerivedInputs(template="budget_allocation", params=params, sources=sources)
    return BudgetInputs(model, fit, budget, ask.planning_days, buckets, derived)


# --------------------------------------------------------------------------- staffing


@dataclass(frozen=True)
class StaffingInputs:
    demand_metric: str
    hours_metric: str
    per_staff_hour: float
    history: str
    needs: list[DayNeed]
    shift_hours: float
    derived: DerivedInputs | None
    """The template's inputs, or None when no roster can be read (``roster_missing`` says why)."""
    roster_missing: MissingInputs | None
    shifts: dict[date, list[ShiftNeed]] = field(default_factory=dict)
    """Per planned day, its shifts by the hour when the demand is recorded by the hour (else empty:
    one shift a day of ``shift_hours``)."""


def _week_of(ask: FromDataAsk, now: datetime) -> list[date]:
    start = ask.week_start
    if start is None:
        today = now.date()
        start = today + timedelta(days=7 - today.weekday())
    start -= timedelta(days=start.weekday())
    return [start + timedelta(days=i) for i in range(7)]


def _daily(values: dict[str, list[FilledValue]]) -> list[tuple[date, float]]:
    return [(v.ts.date(), v.value) for v in values.get("", []) if v.value is not None]


async def _employees(
    session: AsyncSession,
    catalog: dict[str, CatalogEntry],
    hours_metric: str,
    zone: ZoneInfo,
    window: tuple[datetime, datetime],
) -> list[dict[str, float | str]]:
    """The roster: everyone with staff hours in the window, their most weekly hours and wage."""
    weekly = await rollup_by(
        session,
        hours_metric,
        zone,
        bucket="week",
        aggregation="sum",
        window=window,
        fill="none",
        group_by=EMPLOYEE_DIMENSION,
    )
    if not weekly:
        raise MissingInputs(
            [f"{hours_metric} per person (with an '{EMPLOYEE_DIMENSION}' dimension)"],
            ROSTER_WHY,
        )
    wage_metric = _need(catalog, WAGE_METRICS, "an hourly wage (per employee or for everyone)")

    async def latest_wages(group_by: str | None) -> dict[str, Observed]:
        daily = await rollup_by(
            session,
            wage_metric,
            zone,
            bucket="day",
            aggregation="last",
            window=window,
            fill="none",
            group_by=group_by,
        )
        return latest_values(daily)

    wages = await latest_wages(EMPLOYEE_DIMENSION)
    shared = (await latest_wages(None)).get("")
    roster: list[dict[str, float | str]] = []
    for name in sorted(weekly):
        hours = [v.value for v in weekly[name] if v.value is not None]
        wage = wages.get(name) or shared
        if not hours or wage is None:
            continue
        roster.append({"name": name, "hourly_cost": wage.value, "max_hours": max(hours)})
    if not roster:
        raise MissingInputs(
            [f"{wage_metric} for the people in {hours_metric}"],
            ROSTER_WHY,
        )
    return roster


def _staffing_params(
    found: StaffingInputs, roster: list[dict[str, float | str]], ask: FromDataAsk
) -> dict[str, object]:
    days = [need.weekday for need in found.needs]
    if not found.shifts:
        return {
            "days": days,
            "shifts": [{"name": "day", "start_hour": ask.shift_start_hour, "hours": ask.shift_hours}],
            "employees": roster,
            "requirements": [
                {"day": n.weekday, "shift": "day", "staff": n.staff} for n in found.needs if n.staff > 0
            ],
        }
    blocks = next(iter(found.shifts.values()))
    return {
        "days": days,
        "shifts": [
            {"name": s.shift.name, "start_hour": s.shift.start_hour, "hours": s.shift.hours} for s in blocks
        ],
        "employees": roster,
        "requirements": [
            {"day": need.weekday, "shift": s.shift.name, "staff": s.staff}
            for need in found.needs
            for s in found.shifts[need.day]
            if s.staff > 0
        ],
    }


def busiest_hour_label(metric: str, when: str, shift: str) -> str:
    """The source label of a shift's busiest-hour forecast (``when``: "Saturday 2026-12-12")."""
    return f"{metric} forecast for the busiest hour of {when} {shift}"


def shift_staff_label(when: str, shift: str) -> str:
    """The source label of a shift's staff need."""
    return f"staff needed on {when} {shift}"


def _shift_sources(found: StaffingInputs, need: DayNeed) -> list[InputSource]:
    """A planned day's shifts: the busiest hour's forecast and the staff it takes, each cited."""
    sources = []
    when = f"{need.weekday_name} {need.day.isoformat()}"
    for s in found.shifts.get(need.day, []):
        sources.append(
            InputSource(
                label=busiest_hour_label(found.demand_metric, when, s.shift.name),
                value=s.peak.value,
                low=s.peak.low,
                high=s.peak.high,
                metric=found.demand_metric,
                period=found.history,
                method=f"mean of {s.peak_hour:02d}:00-{s.peak_hour + 1:02d}:00 on the {need.history_days} "
                f"{need.weekday_name}s in the history; range mean ± 1.96 sd",
            )
        )
        sources.append(
            InputSource(
                label=shift_staff_label(when, s.shift.name),
                value=s.staff,
                low=s.staff_low,
                high=s.staff_high,
                method=f"the {s.shift.name} h shift's busiest hour ({s.peak_hour:02d}:00) forecast / "
                f"{found.demand_metric} per staff hour, rounded up",
            )
        )
    return sources


def staffing_sources(found: StaffingInputs) -> list[InputSource]:
    """The rate, each day's forecast and staff count as cited sources."""
    sources = [
        InputSource(
            label=f"{found.demand_metric} served per staff hour",
            value=found.per_staff_hour,
            metric=found.hours_metric,
            period=found.history,
            method=f"total {found.demand_metric} / total {found.hours_metric} over the days with both",
        )
    ]
    for need in found.needs:
        label = f"{found.demand_metric} forecast for {need.weekday_name} {need.day.isoformat()}"
        sources.append(
            InputSource(
                label=label,
                value=need.demand.value,
                low=need.demand.low,
                high=need.demand.high,
                metric=found.demand_metric,
                period=found.history,
                method=f"mean of the {need.history_days} {need.weekday_name}s in the history; "
                "range mean ± 1.96 sd",
            )
        )
        per_shift = f"forecast / ({found.demand_metric} per staff hour x {found.shift_hours:g} h shift)"
        method = "sum of the day's shifts" if found.shifts else f"{per_shift}, rounded up"
        sources.append(
            InputSource(
                label=f"staff needed on {need.weekday_name} {need.day.isoformat()}",
                value=need.staff,
                low=need.staff_low,
                high=need.staff_high,
                method=method,
            )
        )
        sources += _shift_sources(found, need)
    return sources


async def staffing_inputs(
    session: AsyncSession, zone: ZoneInfo, ask: FromDataAsk, now: datetime | None = None
) -> StaffingInputs:
    """Staff needed per day of the planned week, and the staffing template's inputs when a roster exists."""
    catalog = await _catalog(session)
    demand_metric = _need(catalog, STAFF_DEMAND_METRICS, "demand per day such as orders or customers")
    hours_metric = _need(catalog, STAFF_HOURS_METRICS, "staff hours worked per day")
    local = (now or datetime.now(UTC)).astimezone(zone)
    end = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    window = (end - timedelta(weeks=STAFF_HISTORY_WEEKS), end)
    series = {}
    for metric in (demand_metric, hours_metric):
        rolled = await rollup_by(
            session, metric, zone, bucket="day", aggregation="sum", window=window, fill="none", group_by=None
        )
        series[metric] = dict(_daily(rolled))
    both = [d for d in series[demand_metric] if series[hours_metric].get(d, 0.0) > 0]
    hours = sum(series[hours_metric][d] for d in both)
    if not both or hours <= 0:
        raise MissingInputs(
            [f"days with both {demand_metric} and {hours_metric} in the last {STAFF_HISTORY_WEEKS} weeks"],
            "The rate at which your staff serve demand is measured on them.",
        )
    per_staff_hour = sum(series[demand_metric][d] for d in both) / hours
    history = sorted(series[demand_metric].items())
    needs = day_needs(history, _week_of(ask, local), per_staff_hour, ask.shift_hours)
    found = StaffingInputs(
        demand_metric, hours_metric, per_staff_hour, _span(*window), needs, ask.shift_hours, None, None
    )
    found = await _by_the_hour(session, found, zone, window)
    sources = staffing_sources(found)
    try:
        roster = await _employees(session, catalog, hours_metric, zone, window)
    except MissingInputs as missing:
        return replace(found, roster_missing=missing)
    if not any(need.staff for need in needs):
        raise MissingInputs(
            [f"{demand_metric} on the weekdays of the planned week"], "No day has demand to staff."
        )
    derived = DerivedInputs(template="staffing", params=_staffing_params(found, roster, ask), sources=sources)
    return replace(found, derived=derived)


async def _by_the_hour(
    session: AsyncSession, found: StaffingInputs, zone: ZoneInfo, window: tuple[datetime, datetime]
) -> StaffingInputs:
    """The day plan split into shifts by the hour, when the demand metric is recorded by the hour."""
    hourly = await rollup_by(
        session,
        found.demand_metric,
        zone,
        bucket="hour",
        aggregation="sum",
        window=window,
        fill="none",
        group_by=None,
    )
    history = hour_history(((v.ts, v.value) for v in hourly.get("", []) if v.value is not None), zone)
    if not is_hourly(history):
        return found
    blocks = shift_blocks(opening_hours(history), found.shift_hours)
    shifts = {need.day: shift_needs(history, need.day, blocks, found.per_staff_hour) for need in found.needs}
    needs = [
        replace(
            need,
            staff=sum(s.staff for s in shifts[need.day]),
            staff_low=sum(s.staff_low for s in shifts[need.day]),
            staff_high=sum(s.staff_high for s in shifts[need.day]),
        )
        for need in found.needs
    ]
    return replace(found, needs=needs, shifts=shifts)


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
                InputSource(
                    label=f"price elasticity of {p.sku}",
                    value=e.value,
                    low=e.low,
                    high=e.high,
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
    catalog = await _catalog(session)
    units_metric = _need(catalog, DEMAND_METRICS, "units sold per SKU (with a 'sku' dimension)")
    price_metric = _need(catalog, PRICE_METRICS, "the selling price per SKU (with a 'sku' dimension)")
    cost_metric = _need(catalog, COST_METRICS, "unit cost per SKU (with a 'sku' dimension)")
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
    period = _span(*window)
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
