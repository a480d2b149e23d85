"""budget_allocation: split a marketing budget across channels with diminishing returns.

Each channel's expected revenue as a function of spend is a concave piecewise-linear
curve through the given points. Because the curve is concave, an LP fills each
channel's steeper segments first, so no binaries are needed and shadow prices (the
value of one more unit of budget) are exact.
"""

from __future__ import annotations

import uuid
from itertools import pairwise
from typing import Literal

import pulp
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from backend.services.optimizer.explain import num, pct
from backend.services.optimizer.model import BuiltModel, ConstraintMeta, linear
from backend.services.optimizer.solve import SolveOutcome
from backend.services.optimizer.templates.base import Interpretation, TemplateSpec, require_unique, value_of

_SLOPE_TOLERANCE = 1e-9
_CHANNELS_DESCRIBED = 8


class CurvePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spend: float = Field(ge=0, description="spend over the planning period")
    revenue: float = Field(description="expected revenue over the period at that spend")


class Channel(BaseModel):
    """A marketing channel with its response curve and spend limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    response_curve: list[CurvePoint] = Field(
        min_length=2,
        description="points (spend, revenue) starting at spend 0, spend increasing, with diminishing returns",
    )
    min_spend: float = Field(0.0, ge=0)
    max_spend: float | None = Field(None, ge=0, description="defaults to the last point of the curve")

    @model_validator(mode="after")
    def _check_curve(self) -> Channel:
        points = self.response_curve
        if points[0].spend != 0:
            raise ValueError(f"channel {self.name!r}: the response curve must start at spend 0")
        slopes: list[float] = []
        for previous, current in pairwise(points):
            if current.spend <= previous.spend:
                raise ValueError(f"channel {self.name!r}: curve spends must strictly increase")
            slopes.append((current.revenue - previous.revenue) / (current.spend - previous.spend))
        for index, (steeper, flatter) in enumerate(pairwise(slopes)):
            if flatter > steeper + _SLOPE_TOLERANCE * max(1.0, abs(steeper)):
                raise ValueError(
                    f"channel {self.name!r}: returns must diminish, but the return per unit rises from "
                    f"{steeper:.4g} to {flatter:.4g} after spend {points[index + 1].spend:g}; "
                    "fit a concave curve or drop the point"
                )
        last = points[-1].spend
        if self.max_spend is not None and self.max_spend > last:
            raise ValueError(
                f"channel {self.name!r}: max_spend {self.max_spend:g} is beyond the curve's last point "
                f"{last:g}; extend the curve rather than extrapolate it"
            )
        upper = last if self.max_spend is None else self.max_spend
        if self.min_spend > upper:
            raise ValueError(
                f"channel {self.name!r}: min_spend {self.min_spend:g} exceeds its maximum {upper:g}"
            )
        return self

    @property
    def upper(self) -> float:
        return self.response_curve[-1].spend if self.max_spend is None else self.max_spend


class BudgetAllocationParams(BaseModel):
    """Inputs of budget_allocation."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(min_length=1, max_length=500)
    total_budget: float = Field(gt=0)
    objective: Literal["revenue", "profit"] = Field(
        "revenue", description="profit = gross_margin x revenue - spend"
    )
    gross_margin: float = Field(1.0, gt=0, le=1, description="share of revenue kept before ad spend")
    spend_entire_budget: bool = False
    mmm_model_id: uuid.UUID | None = Field(
        None,
        description="a stored marketing-mix model (POST /api/v1/evidence/mmm): its fitted curves become the "
        "channels (leave channels out); the stored run keeps the sampled curves",
    )
    planning_days: float | None = Field(
        None, gt=0, le=366, description="with mmm_model_id: days the budget covers (default 30)"
    )

    @model_validator(mode="after")
    def _check(self) -> BudgetAllocationParams:
        require_unique((c.name for c in self.channels), "channel")
        return self


def _segments(channel: Channel) -> list[tuple[float, float]]:
    """(length, slope) of each curve segment."""
    points = channel.response_curve
    return [(b.spend - a.spend, (b.revenue - a.revenue) / (b.spend - a.spend)) for a, b in pairwise(points)]


def build(params: BudgetAllocationParams) -> BuiltModel:
    """LP: spend per channel as a sum of curve segments, under the budget and channel limits."""
    label = "expected revenue" if params.objective == "revenue" else "expected profit"
    built = BuiltModel.create("budget_allocation", "maximize", label)
    # Revenue is the sum of each channel's segments at their slopes plus its revenue at zero spend.
    revenue_terms: list[tuple[pulp.LpVariable, float]] = []
    revenue_at_zero = 0.0
    spends: list[pulp.LpVariable] = []
    for channel in params.channels:
        spend = built.variable(f"spend.{channel.name}", 0.0)
        segments = _segments(channel)
        segment_vars = [built.variable(None, 0.0, length) for length, _ in segments]
        built.structural(
            linear([(spend, 1), *((x, -1) for x in segment_vars)]) == 0,
            "spend_definition",
            f"spend on {channel.name} along its curve",
        )
        revenue_terms.extend((x, slope) for x, (_, slope) in zip(segment_vars, segments, strict=True))
        revenue_at_zero += channel.response_curve[0].revenue
        spends.append(spend)
        if channel.min_spend > 0:
            built.add(
                spend >= channel.min_spend,
                ConstraintMeta(
                    "channel_minimum",
                    f"min_spend[{channel.name}]",
                    f"minimum spend of {num(channel.min_spend)} on {channel.name}",
                ),
            )
        if channel.max_spend is not None and channel.max_spend < channel.response_curve[-1].spend:
            built.add(
                spend <= channel.max_spend,
                ConstraintMeta(
                    "channel_maximum",
                    f"max_spend[{channel.name}]",
                    f"maximum spend of {num(channel.max_spend)} on {channel.name}",
                ),
            )
    total = linear((s, 1) for s in spends)
    budget = total == params.total_budget if params.spend_entire_budget else total <= params.total_budget
    verb = "spend exactly" if params.spend_entire_budget else "total budget of"
    built.add(budget, ConstraintMeta("budget", "total_budget", f"{verb} {num(params.total_budget)}"))
    if params.objective == "revenue":
        built.problem.setObjective(linear(revenue_terms, revenue_at_zero))
    else:
        margin = params.gross_margin
        profit = [(x, margin * slope) for x, slope in revenue_terms] + [(s, -1) for s in spends]
        built.problem.setObjective(linear(profit, revenue_at_zero * margin))
    return built


def curve_revenue(channel: Channel, spend: float) -> float:
    """Expected revenue of a channel at ``spend``, by linear interpolation between its points."""
    points = channel.response_curve
    for a, b in pairwise(points):
        if spend <= b.spend:
            return a.revenue + (b.revenue - a.revenue) * (spend - a.spend) / (b.spend - a.spend)
    return points[-1].revenue


def _marginal_return(channel: Channel, spend: float) -> float | None:
    """Revenue per extra unit of spend just above ``spend`` (None at the curve's end)."""
    reached = 0.0
    for length, slope in _segments(channel):
        reached += length
        if spend < reached - 1e-9 * max(1.0, reached):
            return slope
    return None


def interpret(params: BudgetAllocationParams, built: BuiltModel, outcome: SolveOutcome) -> Interpretation:
    """Totals and per-channel sentences: where the money goes and what the next unit returns."""
    if not outcome.has_solution:
        return Interpretation()
    spends = {c.name: value_of(outcome, built.decisions[f"spend.{c.name}"].name) for c in params.channels}
    revenue = sum(curve_revenue(c, spends[c.name]) for c in params.channels)
    total = sum(spends.values())
    summary = {
        "total_spend": total,
        "unspent_budget": params.total_budget - total,
        "expected_revenue": revenue,
        "expected_profit": params.gross_margin * revenue - total,
    }
    sentences: list[str] = []
    funded = sorted((c for c in params.channels if spends[c.name] > 0), key=lambda c: -spends[c.name])
    for channel in funded[:_CHANNELS_DESCRIBED]:
        spend = spends[channel.name]
        marginal = _marginal_return(channel, spend)
        tail = (
            "its curve is used to the end"
            if marginal is None
            else f"the next unit of spend there would return {num(marginal, 3)} in revenue"
        )
        sentences.append(
            f"Spend {num(spend)} on {channel.name} "
            f"({pct(spend / params.total_budget)} of the budget); {tail}."
        )
    if len(funded) > _CHANNELS_DESCRIBED:
        rest = sum(spends[c.name] for c in funded[_CHANNELS_DESCRIBED:])
        sentences.append(
            f"{len(funded) - _CHANNELS_DESCRIBED} more channels share the remaining {num(rest)}."
        )
    idle = [c.name for c in params.channels if spends[c.name] <= 0]
    if idle:
        listed = ", ".join(idle[:_CHANNELS_DESCRIBED]) + (
            " and others" if len(idle) > _CHANNELS_DESCRIBED else ""
        )
        sentences.append(f"Spend nothing on {listed}: other channels return more per unit.")
    if summary["unspent_budget"] > 1e-6 * params.total_budget:
        reason = (
            "every channel would return less than it costs beyond this point"
            if params.objective == "profit"
            else "every channel has reached its maximum or the end of its curve"
        )
        sentences.append(f"Leave {num(summary['unspent_budget'])} unspent: {reason}.")
    return Interpretation(summary, sentences)


def _channel(name: str, curve: list[tuple[int, int]], **limits: int) -> dict[str, JsonValue]:
    """An example channel: its response curve through ``(spend, revenue)`` points, and any limits."""
    points: list[JsonValue] = [{"spend": spend, "revenue": revenue} for spend, revenue in curve]
    return {"name": name, "response_curve": points, **limits}


def example() -> dict[str, JsonValue]:
    """Four channels with curves of the kind a spend-vs-revenue fit produces."""
    return {
        "total_budget": 10000,
        "objective": "profit",
        "gross_margin": 0.6,
        "channels": [
            _channel("search", [(0, 0), (2000, 9000), (4000, 14000), (6000, 16500)], min_spend=1000),
            _channel("social", [(0, 0), (1500, 5000), (3000, 8000), (5000, 9500)]),
            _channel("email", [(0, 0), (500, 3000), (1000, 4200)], max_spend=800),
            _channel("display", [(0, 0), (2000, 3500), (4000, 5500)]),
        ],
    }


SPEC = TemplateSpec(
    name="budget_allocation",
    title="Marketing budget allocation",
    description=(
        "Split a marketing budget across channels with diminishing returns (concave response curves "
        "through given points), per-channel minimum and maximum spend, to maximise expected revenue or "
        "profit."
    ),
    sense="maximize",
    params_model=BudgetAllocationParams,
    build=build,
    interpret=interpret,
    example=example,
)
