"""product_mix: how much of each product to make (or buy in and stock) to maximise margin.

Making a unit uses capacity of shared resources (machine hours, labour, oven space…);
buying a unit in uses none but usually earns less. Sales of each product lie between
a committed minimum and the market's maximum. With ``whole_units`` off it is an LP,
so shadow prices say what one more hour of each resource is worth.
"""

from __future__ import annotations

import pulp
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from backend.services.optimizer.explain import num
from backend.services.optimizer.model import BuiltModel, ConstraintMeta, linear
from backend.services.optimizer.solve import SolveOutcome
from backend.services.optimizer.templates.base import Interpretation, TemplateSpec, require_unique, value_of

_PRODUCTS_DESCRIBED = 6


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    capacity: float = Field(ge=0)
    unit: str = Field("units", max_length=20, description="e.g. hours, kg")


class MixProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    price: float = Field(ge=0)
    make_cost: float | None = Field(
        None, ge=0, description="variable cost per unit made; omit if it cannot be made"
    )
    buy_cost: float | None = Field(
        None, ge=0, description="cost per unit bought in; omit if it cannot be bought"
    )
    resource_use: dict[str, float] = Field(
        default_factory=dict, description="resource name to amount per unit made"
    )
    min_sales: float = Field(0.0, ge=0, description="committed orders that must be served")
    max_sales: float | None = Field(None, ge=0, description="what the market takes; omit for no limit")

    @model_validator(mode="after")
    def _check(self) -> MixProduct:
        if self.make_cost is None and self.buy_cost is None:
            raise ValueError(f"product {self.name!r}: give make_cost, buy_cost or both")
        if self.max_sales is not None and self.min_sales > self.max_sales:
            raise ValueError(f"product {self.name!r}: min_sales exceeds max_sales")
        if any(v < 0 for v in self.resource_use.values()):
            raise ValueError(f"product {self.name!r}: resource use cannot be negative")
        return self


class ProductMixParams(BaseModel):
    """Inputs of product_mix."""

    model_config = ConfigDict(extra="forbid")

    products: list[MixProduct] = Field(min_length=1, max_length=5000)
    resources: list[Resource] = Field(default_factory=list, max_length=500)
    whole_units: bool = Field(False, description="make and buy whole units only (integer program)")

    @model_validator(mode="after")
    def _check(self) -> ProductMixParams:
        require_unique((p.name for p in self.products), "product")
        require_unique((r.name for r in self.resources), "resource")
        known = {r.name for r in self.resources}
        for product in self.products:
            unknown = set(product.resource_use) - known
            if unknown:
                raise ValueError(f"product {product.name!r} uses unknown resources {sorted(unknown)}")
        return self


def build(params: ProductMixParams) -> BuiltModel:
    """LP (or MIP with whole units): make and buy quantities under capacity and sales limits."""
    built = BuiltModel.create("product_mix", "maximize", "total margin")
    margin: list[tuple[pulp.LpVariable, float]] = []
    usage: dict[str, list[tuple[pulp.LpVariable, float]]] = {r.name: [] for r in params.resources}
    for product in params.products:
        sold: list[pulp.LpVariable] = []
        if product.make_cost is not None:
            make = built.variable(f"make.{product.name}", 0.0, integer=params.whole_units)
            margin.append((make, product.price - product.make_cost))
            for res_name, amount in product.resource_use.items():
                usage[res_name].append((make, amount))
            sold.append(make)
        if product.buy_cost is not None:
            buy = built.variable(f"buy.{product.name}", 0.0, integer=params.whole_units)
            margin.append((buy, product.price - product.buy_cost))
            sold.append(buy)
        total = linear((v, 1) for v in sold)
        if product.min_sales > 0:
            built.add(
                total >= product.min_sales,
                ConstraintMeta(
                    "min_sales",
                    f"min_sales[{product.name}]",
                    f"serve committed orders of {num(product.min_sales)} {product.name}",
                ),
            )
        if product.max_sales is not None:
            built.add(
                total <= product.max_sales,
                ConstraintMeta(
                    "max_sales",
                    f"max_sales[{product.name}]",
                    f"sell at most {num(product.max_sales)} {product.name}",
                ),
            )
    for resource in params.resources:
        if usage[resource.name]:
            built.add(
                linear(usage[resource.name]) <= resource.capacity,
                ConstraintMeta(
                    "capacity",
                    f"capacity[{resource.name}]",
                    f"{resource.name} capacity of {num(resource.capacity)} {resource.unit}",
                ),
            )
    built.problem.setObjective(linear(margin))
    return built


def interpret(params: ProductMixParams, built: BuiltModel, outcome: SolveOutcome) -> Interpretation:
    """Margin, what to make and buy, spare capacity, and which products are not worth making."""
    if not outcome.has_solution:
        return Interpretation()

    def qty(prefix: str, name: str) -> float:
        var = built.decisions.get(f"{prefix}.{name}")
        return 0.0 if var is None else value_of(outcome, var.name)

    made = {p.name: qty("make", p.name) for p in params.products}
    bought = {p.name: qty("buy", p.name) for p in params.products}
    margin = sum(
        (p.price - (p.make_cost or 0.0)) * made[p.name] + (p.price - (p.buy_cost or 0.0)) * bought[p.name]
        for p in params.products
    )
    # Each product's own uses, in product order: the sum per resource is the one over all products.
    used = {r.name: 0.0 for r in params.resources}
    for product in params.products:
        for res_name, amount in product.resource_use.items():
            if res_name in used:
                used[res_name] += amount * made[product.name]
    summary: dict[str, float] = {
        "total_margin": margin,
        "units_made": sum(made.values()),
        "units_bought": sum(bought.values()),
    }
    summary.update({f"capacity_used.{r.name}": used[r.name] for r in params.resources})
    top = sorted(params.products, key=lambda p: -(made[p.name] + bought[p.name]))
    plan = []
    for product in top[:_PRODUCTS_DESCRIBED]:
        amounts = (("make", made[product.name]), ("buy", bought[product.name]))
        parts = [f"{verb} {num(q)}" for verb, q in amounts if q > 1e-9]
        if parts:
            plan.append(f"{product.name}: {' and '.join(parts)}")
    sentences = [
        f"Plan for a total margin of {num(margin)}: " + "; ".join(plan) + "."
        if plan
        else "Nothing is worth making or buying under these prices and costs."
    ]
    spare = [
        f"{r.name} ({num(r.capacity - used[r.name])} {r.unit} spare)"
        for r in params.resources
        if r.capacity - used[r.name] > 1e-6 * max(1.0, r.capacity)
    ]
    if spare:
        sentences.append("Capacity left unused: " + ", ".join(spare[:6]) + ".")
    if not outcome.is_mip:
        not_made = [
            (name[len("make.") :], outcome.reduced_costs.get(var.name, 0.0))
            for name, var in built.decisions.items()
            if name.startswith("make.") and made[name[len("make.") :]] <= 1e-9
        ]
        losers = [(n, rc) for n, rc in not_made if rc < -1e-9]
        if losers:
            listed = ", ".join(f"{n} (needs {num(-rc)} more margin per unit)" for n, rc in losers[:5])
            sentences.append(f"Not worth making at current prices: {listed}.")
    return Interpretation(summary, sentences)


def example() -> dict[str, JsonValue]:
    """A small furniture workshop: two machines, skilled labour, one buy-in option."""
    return {
        "whole_units": False,
        "resources": [
            {"name": "cnc", "capacity": 160, "unit": "hours"},
            {"name": "finishing", "capacity": 120, "unit": "hours"},
            {"name": "oak", "capacity": 900, "unit": "kg"},
        ],
        "products": [
            {
                "name": "table",
                "price": 420,
                "make_cost": 180,
                "min_sales": 5,
                "max_sales": 40,
                "resource_use": {"cnc": 3, "finishing": 2, "oak": 25},
            },
            {
                "name": "chair",
                "price": 95,
                "make_cost": 40,
                "buy_cost": 70,
                "max_sales": 200,
                "resource_use": {"cnc": 0.8, "finishing": 0.5, "oak": 4},
            },
            {
                "name": "shelf",
                "price": 150,
                "make_cost": 70,
                "max_sales": 60,
                "resource_use": {"cnc": 1.5, "finishing": 1, "oak": 9},
            },
        ],
    }


SPEC = TemplateSpec(
    name="product_mix",
    title="Product mix",
    description=(
        "Decide how much of each product to make (using shared capacity) or buy in, between committed "
        "orders and market limits, to maximise total margin."
    ),
    sense="maximize",
    params_model=ProductMixParams,
    build=build,
    interpret=interpret,
    example=example,
)
