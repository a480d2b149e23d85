"""The coach's agents as tools: how to run each one, its tool definition for models, its offline template."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from backend.agents import evidence_analyzer, forecaster, goal_planner, optimizer
from backend.agents.types import AgentDeps, AgentName, AgentResult
from backend.services.coach.providers.base import ToolSpec
from backend.services.coach.providers.offline import ToolTemplate

AgentRunner = Callable[[AgentDeps, str, dict[str, Any]], Awaitable[AgentResult]]


async def _goal_planner(deps: AgentDeps, question: str, arguments: dict[str, Any]) -> AgentResult:
    return await goal_planner.run(deps.session, question, arguments)


RUNNERS: dict[AgentName, AgentRunner] = {
    "goal_planner": _goal_planner,
    "evidence_analyzer": evidence_analyzer.run,
    "forecaster": forecaster.run,
    "optimizer": optimizer.run,
}

_METRIC = {"type": "string", "description": "A metric name from the tenant's catalog."}
TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "goal_planner",
        "Turn an objective into SMART goal drafts (baseline, feasible target, deadline) from the metric's "
        "history. Drafts are not saved.",
        {
            "type": "object",
            "properties": {
                "objective": {"type": "string", "description": "The objective in the user's words."},
                "metric": _METRIC,
                "change_percent": {
                    "type": "number",
                    "description": "Requested change in percent, if stated.",
                },
                "deadline": {"type": "string", "format": "date", "description": "ISO date, if stated."},
                "period": {"type": "string", "enum": ["week", "month", "quarter"]},
            },
            "required": ["objective"],
        },
    ),
    ToolSpec(
        "evidence_analyzer",
        "Explain what drives an outcome metric: causal effect sizes with intervals and refutation status.",
        {
            "type": "object",
            "properties": {
                "outcome": _METRIC,
                "treatment": {"type": "string", "description": "A specific lever to examine, if asked."},
            },
            "required": ["outcome"],
        },
    ),
    ToolSpec(
        "forecaster",
        "Forecast a metric with prediction intervals and the model's backtested accuracy.",
        {
            "type": "object",
            "properties": {
                "metric": _METRIC,
                "horizon": {"type": "integer", "minimum": 1, "description": "Periods ahead."},
                "period": {"type": "string", "enum": ["day", "week", "month"]},
            },
            "required": ["metric"],
        },
    ),
    ToolSpec(
        "optimizer",
        "Solve a decision with an optimizer template (inventory, budget_allocation, staffing, product_mix) "
        "from the tenant's data, and compare a what-if scenario; says which inputs are missing.",
        {
            "type": "object",
            "properties": {
                "template": {"type": "string", "enum": list(optimizer.TEMPLATES)},
                "budget": {"type": "number", "description": "A budget stated by the user."},
                "lead_time_weeks": {"type": "number", "description": "Supplier lead time, if stated."},
                "what_if_budget_percent": {
                    "type": "number",
                    "description": "For a what-if: change the budget by this percent (e.g. 10 or -20).",
                },
                "what_if_demand_percent": {
                    "type": "number",
                    "description": "For a what-if: change every product's demand by this percent.",
                },
            },
            "required": ["template"],
        },
    ),
)


def _render_report(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("report"), list):
        return "\n".join(f"- {line}" for line in payload["report"])
    return str(payload)


def offline_templates() -> dict[str, ToolTemplate]:
    """The offline provider prints each agent's report lines (whose numbers are all cited)."""
    return {name: _render_report for name in RUNNERS}
