"""optimizer: map a question to an optimizer template, fill it from the tenant's data, solve, explain.

Only inputs the tenant's data contain are used. ``budget_allocation`` splits a stated budget with
the response curves of the tenant's newest marketing-mix model. ``inventory`` is filled per SKU from
the metrics (weekly demand from a units-sold metric, stock on hand and unit cost from
their latest values); a run is created through the optimizer service (stored, so the
user can open it and ask what-if questions). Templates whose inputs metrics cannot
hold (response curves, rosters, recipes) — or inventory data that is missing — get an
answer listing exactly which inputs are needed, never guessed numbers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backend.agents import optimizer_data
from backend.agents.question import parse_money
from backend.agents.types import AgentDeps, AgentName, AgentResult, Citations, SuggestedAction
from backend.models import Role
from backend.services.errors import DyocenseError
from backend.services.evidence import mmm_service
from backend.services.evidence.types import Interval
from backend.services.optimizer import Change, SolveOptions
from backend.services.optimizer import service as optimizer_service
from backend.services.optimizer.inputs import (
    DEMAND_WEEKS,
    InventoryInputs,
    MissingInputs,
    SkuInputs,
    inventory_inputs,
)
from backend.services.workload import Queued, Requester

AGENT: AgentName = "optimizer"
TEMPLATES = ("inventory", "budget_allocation", "staffing", "product_mix")
_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "inventory",
        re.compile(r"\b(reorder|re-order|restock|inventory|stock|order quantit|purchase order|sku)", re.I),
    ),
    ("budget_allocation", re.compile(r"\b(budget|allocat|channel|ad spend|marketing spend|advertis)", re.I)),
    ("staffing", re.compile(r"\b(staff|schedul|shift|roster|employee|rota)", re.I)),
    (
        "product_mix",
        re.compile(r"\b(product mix|produce|production|manufactur|which products|pric(e|es|ing))\b", re.I),
    ),
)
# Inputs a template needs that metrics cannot hold, in the user's words.
NEEDS: dict[str, list[str]] = {
    "budget_allocation": [
        "the total budget to split",
        "a marketing-mix model of the outcome and each channel's spend (POST /api/v1/evidence/mmm), "
        "or for each channel expected revenue at several spend levels starting at spend 0",
    ],
    "staffing": [
        "the days and shifts to cover, with the staff each shift needs",
        "each employee's availability, hourly cost and maximum hours",
    ],
    "product_mix": [
        "each product's margin and sales limits",
        "the resources (machine hours, labour, materials) each product uses "
        "and how much of each is available",
    ],
}


def choose_template(question: str, arguments: dict[str, Any]) -> str | None:
    wanted = arguments.get("template")
    if wanted in TEMPLATES:
        return str(wanted)
    for name, pattern in _KEYWORDS:
        if pattern.search(question):
            return name
    return None


async def run(deps: AgentDeps, question: str, arguments: dict[str, Any]) -> AgentResult:
    template = choose_template(question, arguments)
    if template is None:
        return AgentResult(
            AGENT,
            "needs_input",
            [
                "Which decision should I optimise: inventory reorder, budget allocation, "
                "staffing or product mix?"
            ],
            data={"needs": ["template"], "templates": list(TEMPLATES)},
        )
    if not deps.principal.role.at_least(Role.ANALYST):
        return AgentResult(
            AGENT, "not_allowed", ["Running the optimizer stores a plan and needs the analyst role."]
        )
    if template == "staffing":
        return await optimizer_data.staffing(deps, question)
    if template == "product_mix":
        return await optimizer_data.pricing(deps, question)
    if template == "budget_allocation":
        percent = optimizer_data.budget_percent(question)
        if percent is not None:
            return await optimizer_data.budget_what_if(
                deps, question, percent, _stated_budget(question, arguments)
            )
        return await _budget_from_mmm(deps, question, arguments)
    return await _inventory(deps, question, arguments)


def _stated_budget(question: str, arguments: dict[str, Any]) -> float | None:
    given = arguments.get("budget")
    budget = float(given) if isinstance(given, int | float) and not isinstance(given, bool) else None
    return budget if budget is not None else parse_money(question)


async def _budget_from_mmm(deps: AgentDeps, question: str, arguments: dict[str, Any]) -> AgentResult:
    """Split a stated budget with the response curves of the tenant's newest marketing-mix model."""
    budget = _stated_budget(question, arguments)
    model = await mmm_service.latest_model(deps.session)
    missing = []
    if budget is None or budget <= 0:
        missing.append("the total budget to split (say it in the question, e.g. '$10,000')")
    if model is None:
        missing.append(NEEDS["budget_allocation"][1])
    if missing or model is None or budget is None:
        return _needs("budget_allocation", missing, "The plan comes from your own spend and revenue data.")
    cite = Citations(AGENT)
    fit = mmm_service.model_fit(model)
    period = _model_period(model.data_start, model.data_end)
    report = [
        f"From marketing-mix model {model.id} of {model.outcome} on "
        + ", ".join(channel.name for channel in fit.channels)
        + f" ({period}). Budget: "
        + cite.number(budget, metric=None, period=None, method="budget stated in the question")
        + f" over {mmm_curves_days(arguments):g} days."
    ]
    for channel in fit.channels:
        source = f"marketing-mix model {model.id}"
        report.append(
            f"{channel.name}: ROI "
            + _cite_interval(cite, channel.roi, model.outcome, period, f"ROI of {channel.name}, {source}")
            + ", marginal ROI at current spend "
            + _cite_interval(
                cite, channel.marginal_roi, model.outcome, period, f"marginal ROI of {channel.name}, {source}"
            )
            + "."
        )
    params = {
        "total_budget": budget,
        "mmm_model_id": str(model.id),
        "planning_days": mmm_curves_days(arguments),
    }
    await deps.emit("tool", {"agent": AGENT, "tool": "optimizer.create_run", "status": "started"})
    try:
        prepared = await optimizer_service.prepare_run(
            deps.session, template="budget_allocation", params=params, options=SolveOptions(solver="highs")
        )
        run = await optimizer_service.create_run(deps.session, deps.pool, prepared)
    except DyocenseError as error:
        return AgentResult(
            AGENT,
            "needs_input",
            [
                *report,
                "The optimizer refused these inputs: " + cite.quote(error.message, method="the optimizer"),
            ],
            data={"template": "budget_allocation", "params": params, "details": error.details},
            citations=cite.items,
        )
    method = f"budget_allocation optimizer run {run.id} ({run.solver}, status {run.status})"
    solution = optimizer_service.run_result(run)
    decisions = solution.decisions
    if run.status in ("optimal", "feasible"):
        spends = [
            f"{channel.name} "
            + cite.number(
                decisions.get(f"spend.{channel.name}", 0.0),
                metric=None,
                period=None,
                method=f"spend on {channel.name}, {method}",
            )
            for channel in fit.channels
        ]
        report.append("Plan: spend " + ", ".join(spends) + ".")
        summary = solution.summary
        if "expected_revenue" in summary:
            report.append(
                f"Expected {model.outcome} from this spend: "
                + cite.number(
                    summary["expected_revenue"],
                    metric=model.outcome,
                    period=None,
                    method=f"expected revenue, {method}",
                )
                + "."
            )
    else:
        report.append(f"The optimizer found no plan (status {run.status}).")
    for sentence in solution.explanation:
        report.append(cite.quote(sentence, method=method))
    return _plan_result(
        run,
        "budget_allocation",
        report,
        cite,
        {
            "mmm_model_id": str(model.id),
            "status": run.status,
            "decisions": decisions,
            "summary": solution.summary,
        },
        SuggestedAction("Open the marketing-mix model", "GET", f"/api/v1/evidence/mmm/{model.id}"),
    )


def _plan_result(
    run: Any,
    template: str,
    report: list[str],
    cite: Citations,
    data: dict[str, Any],
    next_step: SuggestedAction,
) -> AgentResult:
    """A stored plan's answer: the report and its citations, the run's ``data`` (after its template
    and id), and the actions to open the plan and take ``next_step``."""
    return AgentResult(
        AGENT,
        "ok",
        report,
        data={"template": template, "run_id": str(run.id), **data},
        citations=cite.items,
        suggested_actions=[
            SuggestedAction("Open the stored plan", "GET", f"/api/v1/optimizer/runs/{run.id}"),
            next_step,
        ],
    )


def _model_period(start: datetime | None, end: datetime | None) -> str:
    return f"{start.date() if start else 'start'} to {end.date() if end else 'end'}"


def _cite_interval(cite: Citations, value: Interval, metric: str, period: str, method: str) -> str:
    """``value [low, high]`` of a fitted quantity with its 95% interval, each number cited."""
    middle = cite.number(value.value, metric=metric, period=period, method=method)
    low = cite.number(value.low, metric=metric, period=period, method=f"{method}, 95% interval low")
    high = cite.number(value.high, metric=metric, period=period, method=f"{method}, 95% interval high")
    return f"{middle} [{low}, {high}]"


def mmm_curves_days(arguments: dict[str, Any]) -> float:
    """Days the budget covers: the model's ``planning_days`` argument, else a month."""
    days = arguments.get("planning_days")
    return float(days) if isinstance(days, int | float) and not isinstance(days, bool) and days > 0 else 30.0


def _needs(template: str, needs: list[str], why: str) -> AgentResult:
    report = [f"To run the {template} optimizer I need: " + "; ".join(needs) + f". {why}"]
    return AgentResult(
        AGENT,
        "needs_input",
        report,
        data={"template": template, "needs": needs},
        suggested_actions=[
            SuggestedAction(
                f"See the {template} template's inputs and an example", "GET", "/api/v1/optimizer/templates"
            )
        ],
    )


async def _inventory(deps: AgentDeps, question: str, arguments: dict[str, Any]) -> AgentResult:
    lead_weeks = arguments.get("lead_time_weeks")
    weeks = float(lead_weeks) if isinstance(lead_weeks, int | float) and lead_weeks > 0 else 1.0
    try:
        found = await inventory_inputs(deps.session, ZoneInfo(deps.timezone), lead_weeks=weeks)
    except MissingInputs as missing:
        return _needs("inventory", missing.needs, missing.why)
    cite = Citations(AGENT)
    report = [_sku_line(cite, found, sku) for sku in found.skus]
    inputs = {
        sku.sku: {
            "demand_mean": sku.demand_mean,
            "demand_std": sku.demand_std,
            "on_hand": sku.on_hand.value,
            "unit_cost": sku.unit_cost.value,
        }
        for sku in found.skus
    }
    params = found.params()
    budget = arguments.get("budget")
    budget = float(budget) if isinstance(budget, int | float) else parse_money(question)
    if budget is not None:
        params["budget"] = budget
        report.append(
            "Purchase budget: "
            + cite.number(budget, metric=None, period=None, method="budget stated in the question")
            + "."
        )
    await deps.emit("tool", {"agent": AGENT, "tool": "optimizer.create_run", "status": "started"})
    try:
        prepared = await optimizer_service.prepare_run(
            deps.session, template="inventory", params=params, options=SolveOptions(solver="highs")
        )
        outcome = await optimizer_service.solve(
            deps.session, deps.pool, prepared, Requester(deps.principal.user_id)
        )
        if isinstance(outcome, Queued):
            return AgentResult(
                AGENT,
                "ok",
                [*report, "The problem is too large to solve now, so it was queued as a background job."],
                data={"template": "inventory", "job_id": str(outcome.job_id), "reason": outcome.reason},
                citations=cite.items,
                suggested_actions=[SuggestedAction("Follow the optimizer job", "GET", outcome.status_url)],
            )
        run = outcome
        changes, skipped = what_if_changes(question, arguments, has_budget="budget" in params)
        scenario = (
            await optimizer_service.what_if(
                deps.session,
                deps.pool,
                run.id,
                changes=changes,
                options=SolveOptions(solver="highs"),
                use_baseline_solver=True,
            )
            if changes
            else None
        )
    except DyocenseError as error:
        return AgentResult(
            AGENT,
            "needs_input",
            [
                *report,
                "The optimizer refused these inputs: "
                + cite.quote(error.message, method="stated by the optimizer"),
            ],
            data={"template": "inventory", "params": params, "details": error.details},
            citations=cite.items,
        )
    result = _inventory_report(run, report, cite, inputs, weeks)
    if scenario is not None or skipped:
        _add_what_if(result, cite, scenario.comparison if scenario else None, skipped, run.id)
    return result


def _sku_line(cite: Citations, found: InventoryInputs, sku: SkuInputs) -> str:
    """One SKU's inputs as a report line, every number cited."""
    metrics, span = found.metrics, found.window.demand_span
    horizon = "week" if found.lead_weeks == 1 else f"{display_weeks(found.lead_weeks)} weeks"
    mean_text = cite.number(
        sku.demand_mean,
        metric=metrics.demand,
        period=span,
        method=f"mean weekly units of {sku.sku} over {DEMAND_WEEKS} weeks, per {horizon}",
    )
    std_text = cite.number(
        sku.demand_std,
        metric=metrics.demand,
        period=span,
        method=f"standard deviation of weekly units of {sku.sku}",
    )
    stock_text = cite.number(
        sku.on_hand.value,
        metric=metrics.stock,
        period=sku.on_hand.ts.date().isoformat(),
        method=f"latest {metrics.stock} of {sku.sku}",
    )
    cost_text = cite.number(
        sku.unit_cost.value,
        metric=metrics.cost,
        period=sku.unit_cost.ts.date().isoformat(),
        method=f"latest {metrics.cost} of {sku.sku}",
    )
    return (
        f"{sku.sku}: demand {mean_text} per {horizon} (standard deviation {std_text}), "
        f"on hand {stock_text}, unit cost {cost_text}."
    )


_WHAT_IF = re.compile(r"\bwhat if\b|\bscenario\b|\bsuppose\b", re.IGNORECASE)
_CHANGE = re.compile(
    r"\b(?P<target>budget|demand)\b(?P<between>[^.?!%\d+-]{0,40})(?P<sign>[+-])?\s*(?P<amount>\d+(?:\.\d+)?)\s*%",
    re.IGNORECASE,
)
_DOWN_WORDS = (
    "cut",
    "lower",
    "reduce",
    "less",
    "drop",
    "fall",
    "decrease",
    "down",
    "smaller",
    "shrink",
    "fewer",
)
SCENARIO_SHOWN = 5


def what_if_changes(
    question: str, arguments: dict[str, Any], *, has_budget: bool
) -> tuple[list[Change], list[str]]:
    """Scenario changes asked for: the model's ``what_if_*_percent`` arguments, or in offline mode a
    "what if … budget/demand … N% …" phrasing. Returns the changes and what could not be applied."""
    percents: dict[str, float] = {}
    for target in ("budget", "demand"):
        given = arguments.get(f"what_if_{target}_percent")
        if isinstance(given, int | float) and not isinstance(given, bool):
            percents[target] = float(given)
    if not percents and _WHAT_IF.search(question):
        for match in _CHANGE.finditer(question):
            # Direction words sit before ("cut the budget by 10%") or after ("demand 20% lower").
            before = question[max(0, match.start() - 20) : match.start()]
            around = (before + match["between"] + question[match.end() : match.end() + 20]).lower()
            down = match["sign"] == "-" or any(word in around for word in _DOWN_WORDS)
            amount = float(match["amount"])
            percents.setdefault(match["target"].lower(), -amount if down else amount)
    changes: list[Change] = []
    skipped: list[str] = []
    for target, percent in percents.items():
        label = f"{target} {percent:+g}%"
        if target == "budget" and not has_budget:
            skipped.append(f"{label}: the plan has no purchase budget to change (state one in the question)")
            continue
        path = "/budget" if target == "budget" else "/products/*/demand_mean"
        changes.append(Change(path=path, op="scale", value=1 + percent / 100, label=label))
    return changes, skipped


def _add_what_if(
    result: AgentResult, cite: Citations, comparison: Any, skipped: list[str], run_id: Any
) -> None:
    """Append the scenario: its changes, the cost before and after, and the orders that moved."""
    lines = [f"Not applied: {reason}." for reason in skipped]
    if comparison is not None:
        method = f"what-if on optimizer run {run_id}"
        labels = ", ".join(change.label or change.path for change in comparison.changes)
        before, after = comparison.baseline.objective, comparison.scenario.objective
        if before is not None and after is not None:
            before_text = cite.number(before, metric=None, period=None, method=f"total cost before, {method}")
            after_text = cite.number(
                after, metric=None, period=None, method=f"total cost with {labels}, {method}"
            )
            lines.append(f"What if {labels}: total cost {before_text} becomes {after_text}.")
        else:
            lines.append(f"What if {labels}: the scenario's status is {comparison.scenario.status}.")
        moved = [diff for diff in comparison.decision_diffs if diff.name.startswith("order_qty.")]
        shown = []
        for diff in moved[:SCENARIO_SHOWN]:
            sku = diff.name.removeprefix("order_qty.")
            old = cite.number(
                diff.baseline, metric=None, period=None, method=f"order of {sku} before, {method}"
            )
            new = cite.number(
                diff.scenario, metric=None, period=None, method=f"order of {sku} after, {method}"
            )
            shown.append(f"{sku} {old} to {new}")
        if shown:
            lines.append("Orders that change: " + ", ".join(shown) + ".")
        elif not moved:
            lines.append("No order quantity changes.")
        result.data["what_if"] = {
            "changes": [change.model_dump() for change in comparison.changes],
            "objective_delta": comparison.objective_delta,
            "decision_diffs": [diff.model_dump() for diff in comparison.decision_diffs],
        }
    result.report.extend(lines)
    result.citations = list(cite.items)


def display_weeks(weeks: float) -> str:
    return f"{weeks:g}"


def _inventory_report(
    run: Any, report: list[str], cite: Citations, inputs: dict[str, Any], weeks: float
) -> AgentResult:
    solution = optimizer_service.run_result(run)
    method = f"inventory optimizer run {run.id} ({run.solver}, status {run.status})"
    header = [
        "Inputs from the tenant's metrics (the template's default service level applies; demand covers "
        + (
            "one week — give lead_time_weeks if orders take longer to arrive)."
            if weeks == 1
            else "the stated lead time)."
        )
    ]
    lines = [*header, *report]
    if run.status not in ("optimal", "feasible"):
        lines.append(f"The optimizer found no plan (status {run.status}).")
        for sentence in solution.explanation:
            lines.append(cite.quote(sentence, method=method))
    else:
        decisions = solution.decisions
        orders = []
        for sku in inputs:
            qty = decisions.get(f"order_qty.{sku}", 0.0)
            qty_text = cite.number(qty, metric=None, period=None, method=f"order quantity of {sku}, {method}")
            orders.append(f"{sku} {qty_text}")
        lines.append("Plan: order " + ", ".join(orders) + " units.")
        summary = solution.summary
        if "total_cost" in summary:
            total = cite.number(
                summary["total_cost"], metric=None, period=None, method=f"total cost, {method}"
            )
            lines.append(f"Total cost {total}.")
        for sentence in solution.explanation:
            lines.append(cite.quote(sentence, method=method))
    return _plan_result(
        run,
        "inventory",
        lines,
        cite,
        {
            "status": run.status,
            "objective": run.objective,
            "decisions": solution.decisions,
            "summary": solution.summary,
            "inputs": inputs,
        },
        SuggestedAction(
            "Compare a scenario (what-if) with this plan",
            "POST",
            f"/api/v1/optimizer/runs/{run.id}/what-if",
            {"changes": [{"path": "/service_level", "op": "set", "value": 0.99}]},
        ),
    )
