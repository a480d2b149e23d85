"""Optimizer inputs built from the tenant's metrics: the inventory template's products per SKU.

Reads go through the metrics service only (catalog and rollups, in the caller's tenant
session). Weekly demand comes from the complete weeks before this one, stock on hand and
unit cost from each SKU's latest value in a recent window; all in the tenant's time zone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.errors import ValidationFailed
from backend.services.metrics import service as metrics_service
from backend.services.metrics.buckets import FilledValue, parse_bucket
from backend.services.metrics.repository import CatalogEntry, PointFilter
from backend.services.metrics.service import RollupRequest
from backend.utils.repository import PageWindow

DEMAND_METRICS = ("units_sold", "unit_sales", "quantity_sold", "demand")
STOCK_METRICS = ("stock_level", "on_hand", "inventory_level", "stock")
COST_METRICS = ("unit_cost", "cost_per_unit")
SKU_DIMENSION = "sku"
DEMAND_WEEKS = 12
LATEST_WINDOW_DAYS = 90
CATALOG_LIMIT = 1000


class MissingInputs(ValidationFailed):
    """The metrics cannot give the template's inputs; ``needs`` says what is missing, ``why`` why."""

    def __init__(self, needs: list[str], why: str) -> None:
        super().__init__(f"Missing optimizer inputs: {'; '.join(needs)}. {why}", context={"needs": needs})
        self.needs = needs
        self.why = why


@dataclass(frozen=True)
class Observed:
    """A SKU's latest value of a level metric and when it was measured."""

    value: float
    ts: datetime


@dataclass(frozen=True)
class SkuInputs:
    sku: str
    demand_mean: float
    demand_std: float
    on_hand: Observed
    unit_cost: Observed

    def product(self) -> dict[str, Any]:
        """The inventory template's product entry (stock below zero counts as none on hand)."""
        return {
            "sku": self.sku,
            "unit_cost": self.unit_cost.value,
            "on_hand": max(self.on_hand.value, 0.0),
            "demand_mean": self.demand_mean,
            "demand_std": self.demand_std,
        }


@dataclass(frozen=True)
class InventoryMetrics:
    demand: str
    stock: str
    cost: str


@dataclass(frozen=True)
class InventoryWindow:
    """Complete weeks of demand before ``demand_end``; latest levels since ``latest_start``."""

    demand_start: datetime
    demand_end: datetime
    latest_start: datetime
    now: datetime

    @classmethod
    def at(cls, now: datetime, zone: ZoneInfo) -> InventoryWindow:
        local = now.astimezone(zone)
        monday = local.date() - timedelta(days=local.weekday())
        this_monday = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
        return cls(
            demand_start=this_monday - timedelta(weeks=DEMAND_WEEKS),
            demand_end=this_monday,
            latest_start=local - timedelta(days=LATEST_WINDOW_DAYS),
            now=local,
        )

    @property
    def demand_span(self) -> str:
        last_day = (self.demand_end - timedelta(days=1)).date()
        return f"{self.demand_start.date().isoformat()} to {last_day.isoformat()}"


@dataclass(frozen=True)
class InventoryInputs:
    metrics: InventoryMetrics
    window: InventoryWindow
    lead_weeks: float
    skus: list[SkuInputs]

    def params(self) -> dict[str, Any]:
        return {"products": [sku.product() for sku in self.skus]}


def first_of(entries: dict[str, CatalogEntry], candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in entries), None)


async def tenant_catalog(session: AsyncSession) -> dict[str, CatalogEntry]:
    """The tenant's metrics by name (the first ``CATALOG_LIMIT``)."""
    entries, _ = await metrics_service.list_catalog(session, PageWindow(CATALOG_LIMIT))
    return {entry.name: entry for entry in entries}


def need_metric(catalog: dict[str, CatalogEntry], names: tuple[str, ...], what: str) -> str:
    """The first of ``names`` the tenant has, or a :class:`MissingInputs` saying ``what`` is needed."""
    found = first_of(catalog, names)
    if found is None:
        raise MissingInputs([f"{what} (a metric named one of {', '.join(names)})"], "Ingest it as a metric.")
    return found


def span_label(start: datetime, end: datetime) -> str:
    """A half-open window ``[start, end)`` as its first and last day."""
    return f"{start.date().isoformat()} to {(end - timedelta(days=1)).date().isoformat()}"


def inventory_metrics(entries: Sequence[CatalogEntry]) -> InventoryMetrics:
    """The demand, stock and cost metrics by their conventional names, or what is missing."""
    by_name = {entry.name: entry for entry in entries}
    demand = first_of(by_name, DEMAND_METRICS)
    stock = first_of(by_name, STOCK_METRICS)
    cost = first_of(by_name, COST_METRICS)
    missing = []
    if demand is None:
        missing.append(
            f"units sold per SKU (a metric named one of {', '.join(DEMAND_METRICS)} with a 'sku' dimension)"
        )
    if stock is None:
        missing.append(f"stock on hand per SKU (one of {', '.join(STOCK_METRICS)} with a 'sku' dimension)")
    if cost is None:
        missing.append(f"unit cost per SKU (one of {', '.join(COST_METRICS)} with a 'sku' dimension)")
    if demand is None or stock is None or cost is None:
        raise MissingInputs(missing, "Ingest them as metrics, or create a run with these inputs.")
    return InventoryMetrics(demand=demand, stock=stock, cost=cost)


async def rollup_by(
    session: AsyncSession,
    metric: str,
    zone: ZoneInfo,
    *,
    bucket: str,
    aggregation: str,
    window: tuple[datetime, datetime],
    fill: str,
    group_by: str | None = SKU_DIMENSION,
) -> dict[str, list[FilledValue]]:
    """The metric's buckets per value of ``group_by`` (ungrouped: one series under the key "")."""
    start, end = window
    points = PointFilter(metric=metric, start=start, end=end, dimensions={})
    ask = RollupRequest(points, parse_bucket(bucket), aggregation, zone, group_by=group_by, fill=fill)
    series, _, _ = await metrics_service.rollup(session, ask)
    if group_by is None:
        return {"": series[0].values} if series else {}
    return {s.group: s.values for s in series if s.group is not None}


def latest_values(by_sku: dict[str, list[FilledValue]]) -> dict[str, Observed]:
    """Each SKU's last known value (SKUs with none in the window are left out)."""
    latest = {}
    for sku, values in by_sku.items():
        known = next((v for v in reversed(values) if v.value is not None), None)
        if known is not None and known.value is not None:
            latest[sku] = Observed(known.value, known.ts)
    return latest


def _demand(weekly: list[FilledValue], lead_weeks: float) -> tuple[float, float]:
    """Mean and standard deviation of demand over the lead time (independent weeks)."""
    values = [v.value or 0.0 for v in weekly]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values) * lead_weeks, spread * math.sqrt(lead_weeks)


def _skus(
    metrics: InventoryMetrics,
    weekly: dict[str, list[FilledValue]],
    levels: dict[str, dict[str, Observed]],
    lead_weeks: float,
) -> list[SkuInputs]:
    """One entry per SKU with weekly demand; refuses SKUs without a recent stock or cost."""
    skus = sorted(weekly)
    if not skus:
        raise MissingInputs(
            [
                f"weekly sales per SKU: {metrics.demand} has no points "
                "with a 'sku' dimension in the last weeks"
            ],
            "Demand cannot be estimated without them.",
        )
    lacking = {name: [sku for sku in skus if sku not in by_sku] for name, by_sku in levels.items()}
    lacking = {name: listed for name, listed in lacking.items() if listed}
    if lacking:
        raise MissingInputs(
            [f"{name} for SKU {', '.join(listed)}" for name, listed in lacking.items()],
            f"They have no value in the last {LATEST_WINDOW_DAYS} days.",
        )
    stock, cost = levels[metrics.stock], levels[metrics.cost]
    return [
        SkuInputs(sku, *_demand(weekly[sku], lead_weeks), on_hand=stock[sku], unit_cost=cost[sku])
        for sku in skus
    ]


async def inventory_inputs(
    session: AsyncSession, zone: ZoneInfo, *, lead_weeks: float = 1.0, now: datetime | None = None
) -> InventoryInputs:
    """The inventory template's inputs from the tenant's metrics; ``MissingInputs`` says what lacks."""
    entries, _ = await metrics_service.list_catalog(session, PageWindow(CATALOG_LIMIT))
    metrics = inventory_metrics(entries)
    window = InventoryWindow.at(now or datetime.now(UTC), zone)
    weekly = await rollup_by(
        session,
        metrics.demand,
        zone,
        bucket="week",
        aggregation="sum",
        window=(window.demand_start, window.demand_end),
        fill="zero",
    )
    levels: dict[str, dict[str, Observed]] = {}
    for name in (metrics.stock, metrics.cost):
        levels[name] = latest_values(
            await rollup_by(
                session,
                name,
                zone,
                bucket="day",
                aggregation="last",
                window=(window.latest_start, window.now),
                fill="none",
            )
        )
    return InventoryInputs(metrics, window, lead_weeks, _skus(metrics, weekly, levels, lead_weeks))
