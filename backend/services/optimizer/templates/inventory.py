"""inventory: how many units of each product to reorder this period, at least total cost.

Each product must reach a target stock of expected demand plus safety stock
(``z x demand_std`` for the chosen service level), or pay a stockout cost per unit
short when one is given. Orders respect a purchase budget, storage space and
supplier minimum order quantities (an order is either zero or at least the MOQ,
modelled with a yes/no variable). The classic EOQ is reported as the unconstrained
reference lot size.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pulp
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from backend.services.optimizer.explain import num, pct
from backend.services.optimizer.model import BuiltModel, ConstraintMeta, linear
from backend.services.optimizer.solve import SolveOutcome
from backend.services.optimizer.templates.base import Interpretation, TemplateSpec, require_unique, value_of


class InventoryProduct(BaseModel):
    """One product; demand figures cover the time until the next order can arrive."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=80)
    unit_cost: float = Field(gt=0)
    on_hand: float = Field(0.0, ge=0)
    demand_mean: float = Field(ge=0, description="expected units sold over lead time plus review period")
    demand_std: float = Field(0.0, ge=0, description="standard deviation of that demand")
    holding_cost: float = Field(0.0, ge=0, description="cost per unit still in stock at the period's end")
    order_cost: float = Field(0.0, ge=0, description="fixed cost of placing an order for this product")
    min_order_qty: int = Field(0, ge=0, description="supplier minimum when ordering at all")
    max_order_qty: int | None = Field(None, ge=0)
    volume_per_unit: float = Field(0.0, ge=0)
    stockout_cost: float | None = Field(
        None, ge=0, description="cost per unit below target; omit to require the target to be met"
    )
    supplier: str | None = Field(None, max_length=80)

    @model_validator(mode="after")
    def _check(self) -> InventoryProduct:
        if self.max_order_qty is not None and 0 < self.max_order_qty < self.min_order_qty:
            raise ValueError(
                f"product {self.sku!r}: max_order_qty {self.max_order_qty} is below min_order_qty "
                f"{self.min_order_qty}"
            )
        return self


class InventoryParams(BaseModel):
    """Inputs of inventory."""

    model_config = ConfigDict(extra="forbid")

    products: list[InventoryProduct] = Field(min_length=1, max_length=5000)
    budget: float | None = Field(None, ge=0, description="purchase budget for this period's orders")
    storage_capacity: float | None = Field(None, ge=0, description="space for stock on hand plus orders")
    service_level: float = Field(
        0.95, ge=0.5, lt=1, description="probability of not running out before the next order arrives"
    )
    periods_per_year: float = Field(
        52.0, gt=0, description="planning periods in a year (52 = weekly), used only for the EOQ reference"
    )

    @model_validator(mode="after")
    def _check(self) -> InventoryParams:
        require_unique((p.sku for p in self.products), "product")
        return self


def safety_stock(product: InventoryProduct, service_level: float) -> float:
    """Units held beyond expected demand to reach ``service_level`` under normal demand."""
    return NormalDist().inv_cdf(service_level) * product.demand_std


def eoq(product: InventoryProduct, periods_per_year: float) -> float | None:
    """Economic order quantity sqrt(2DS/H), or None when ordering or holding is free."""
    annual_demand = product.demand_mean * periods_per_year
    annual_holding = product.holding_cost * periods_per_year
    if product.order_cost <= 0 or annual_holding <= 0 or annual_demand <= 0:
        return None
    return math.sqrt(2 * annual_demand * product.order_cost / annual_holding)


def _order_cap(product: InventoryProduct, target: float) -> int:
    if product.max_order_qty is not None:
        return product.max_order_qty
    # Every cost is non-negative, so ordering past the target (or the MOQ) never pays.
    return max(product.min_order_qty, math.ceil(max(target - product.on_hand, 0.0) - 1e-9))


def build(params: InventoryParams) -> BuiltModel:
    """MIP: integer order quantities, MOQ via yes/no order variables, budget and space limits."""
    built = BuiltModel.create("inventory", "minimize", "total cost")
    costs: list[tuple[pulp.LpVariable, float]] = []
    purchase: list[tuple[pulp.LpVariable, float]] = []
    space: list[tuple[pulp.LpVariable, float]] = []
    space_on_hand = 0.0
    for product in params.products:
        sku = product.sku
        ss = safety_stock(product, params.service_level)
        target = product.demand_mean + ss
        cap = _order_cap(product, target)
        qty = built.variable(f"order_qty.{sku}", 0, cap, integer=True)
        costs.append((qty, product.unit_cost))
        purchase.append((qty, product.unit_cost))
        space.append((qty, product.volume_per_unit))
        space_on_hand += product.on_hand * product.volume_per_unit
        if product.min_order_qty > 0 or product.order_cost > 0:
            ordered = built.variable(None, binary=True)
            costs.append((ordered, product.order_cost))
            built.structural(
                linear(((qty, 1), (ordered, -cap))) <= 0,
                "order_link",
                f"{sku} is ordered only when an order is placed",
            )
            if product.min_order_qty > 0:
                built.add(
                    linear(((qty, 1), (ordered, -product.min_order_qty))) >= 0,
                    ConstraintMeta(
                        "supplier_minimum",
                        f"min_order_qty[{sku}]",
                        f"supplier minimum of {product.min_order_qty} units per order of {sku}",
                        report_binding=False,
                    ),
                )
        if product.holding_cost > 0:
            leftover = built.variable(None, 0.0)
            built.structural(
                linear(((leftover, 1), (qty, -1)), product.demand_mean - product.on_hand) >= 0,
                "leftover",
                f"stock of {sku} left over",
            )
            costs.append((leftover, product.holding_cost))
        if product.on_hand >= target:
            continue
        coverage = (
            f"stock of {sku} reaching expected demand {num(product.demand_mean)} plus safety stock "
            f"{num(ss)} ({pct(params.service_level)} service level)"
        )
        if product.stockout_cost is None:
            built.add(
                linear([(qty, 1)], product.on_hand) >= target,
                ConstraintMeta("service_level", f"service_level[{sku}]", coverage),
            )
        else:
            short = built.variable(f"shortfall.{sku}", 0.0)
            built.structural(linear(((qty, 1), (short, 1)), product.on_hand) >= target, "shortfall", coverage)
            costs.append((short, product.stockout_cost))
    if params.budget is not None:
        built.add(
            linear(purchase) <= params.budget,
            ConstraintMeta("budget", "budget", f"purchase budget of {num(params.budget)}"),
        )
    if params.storage_capacity is not None:
        built.add(
            linear(space, space_on_hand) <= params.storage_capacity,
            ConstraintMeta("storage", "storage", f"storage capacity of {num(params.storage_capacity)}"),
        )
    built.problem.setObjective(linear(costs))
    return built


def interpret(params: InventoryParams, built: BuiltModel, outcome: SolveOutcome) -> Interpretation:
    """Cost breakdown, budget and space use, shortfalls, and the EOQ reference."""
    summary: dict[str, float] = {}
    for product in params.products:
        reference = eoq(product, params.periods_per_year)
        if reference is not None:
            summary[f"eoq.{product.sku}"] = reference
    if not outcome.has_solution:
        return Interpretation(summary)
    qty = {
        p.sku: round(value_of(outcome, built.decisions[f"order_qty.{p.sku}"].name)) for p in params.products
    }
    purchase = sum(p.unit_cost * qty[p.sku] for p in params.products)
    ordering = sum(p.order_cost for p in params.products if qty[p.sku] > 0)
    holding = sum(p.holding_cost * max(qty[p.sku] + p.on_hand - p.demand_mean, 0.0) for p in params.products)
    shortfalls = {
        p.sku: max(p.demand_mean + safety_stock(p, params.service_level) - p.on_hand - qty[p.sku], 0.0)
        for p in params.products
    }
    stockout = sum((p.stockout_cost or 0.0) * shortfalls[p.sku] for p in params.products)
    summary.update(
        {
            "total_cost": purchase + ordering + holding + stockout,
            "purchase_cost": purchase,
            "ordering_cost": ordering,
            "expected_holding_cost": holding,
            "stockout_cost": stockout,
            "units_ordered": float(sum(qty.values())),
            "products_ordered": float(sum(1 for q in qty.values() if q > 0)),
            "safety_stock_units": sum(safety_stock(p, params.service_level) for p in params.products),
            "storage_used": sum(p.volume_per_unit * (p.on_hand + qty[p.sku]) for p in params.products),
        }
    )
    sentences = [
        f"Order {num(summary['units_ordered'])} units across {num(summary['products_ordered'])} products "
        f"for a purchase cost of {num(purchase)}"
        + (f" ({pct(purchase / params.budget)} of the budget)." if params.budget else ".")
    ]
    z = NormalDist().inv_cdf(params.service_level)
    sentences.append(
        f"Safety stock for a {pct(params.service_level)} service level (z = {z:.3f}) adds "
        f"{num(summary['safety_stock_units'], 1)} units beyond expected demand."
    )
    short = [(sku, s) for sku, s in shortfalls.items() if s > 1e-6]
    if short:
        listed = ", ".join(f"{sku} by {num(s, 1)}" for sku, s in sorted(short, key=lambda x: -x[1])[:5])
        sentences.append(
            f"Stock stays below target for {len(short)} products ({listed}): covering them costs more."
        )
    moq_driven = [p.sku for p in params.products if 0 < qty[p.sku] == p.min_order_qty]
    if moq_driven:
        sentences.append(f"Orders of {', '.join(moq_driven[:5])} are set by the supplier minimum.")
    references = [(p.sku, summary[f"eoq.{p.sku}"]) for p in params.products if f"eoq.{p.sku}" in summary]
    if references:
        listed = ", ".join(f"{sku} {num(v, 0)} (ordering {qty[sku]} now)" for sku, v in references[:3])
        sentences.append(
            f"For reference, the long-run cost-minimising lot sizes (EOQ) are {listed}; this period's "
            "orders follow current stock, demand, budget and space."
        )
    return Interpretation(summary, sentences)


def example() -> dict[str, JsonValue]:
    """Three products from two suppliers under a budget and shelf space."""
    return {
        "budget": 5000,
        "storage_capacity": 400,
        "service_level": 0.95,
        "periods_per_year": 26,
        "products": [
            {
                "sku": "COFFEE-1KG",
                "unit_cost": 18,
                "on_hand": 40,
                "demand_mean": 120,
                "demand_std": 25,
                "holding_cost": 0.5,
                "order_cost": 30,
                "min_order_qty": 24,
                "volume_per_unit": 1,
                "supplier": "A",
            },
            {
                "sku": "TEA-250G",
                "unit_cost": 6,
                "on_hand": 80,
                "demand_mean": 150,
                "demand_std": 30,
                "holding_cost": 0.2,
                "order_cost": 30,
                "min_order_qty": 50,
                "volume_per_unit": 0.4,
                "supplier": "A",
            },
            {
                "sku": "MUG",
                "unit_cost": 4,
                "on_hand": 10,
                "demand_mean": 60,
                "demand_std": 15,
                "holding_cost": 0.1,
                "order_cost": 20,
                "min_order_qty": 36,
                "volume_per_unit": 0.8,
                "supplier": "B",
                "stockout_cost": 5,
            },
        ],
    }


SPEC = TemplateSpec(
    name="inventory",
    title="Inventory reorder quantities",
    description=(
        "Reorder quantities for many products that reach expected demand plus safety stock for a service "
        "level, under a purchase budget, storage space and supplier minimum order quantities, at least "
        "total cost; reports EOQ as the unconstrained reference."
    ),
    sense="minimize",
    params_model=InventoryParams,
    build=build,
    interpret=interpret,
    example=example,
)
