"""goal_planner: an objective ("grow revenue 20% this year") → SMART goal drafts, for the coach.

The agent reads the objective's words (which metric, what change, by when) into a
``PlanRequest`` and lets the goals service plan (``services.goals.planning``): the baseline,
the targets and their plausibility are the service's rules. The agent turns the plan into
the coach's result, each number cited as the report shows it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.agents.question import match_metrics, parse_deadline, parse_percent, wants_decrease
from backend.agents.types import AgentName, AgentResult, Citations, SuggestedAction
from backend.services.goals import planning
from backend.services.goals.planning import GoalPlan, PlanRequest
from backend.services.tenant.service import tenant_zone
from backend.utils.calendar import Period, check_period, local_today

AGENT: AgentName = "goal_planner"


async def read_objective(
    session: AsyncSession,
    objective: str,
    *,
    metric: str | None = None,
    change_percent: float | None = None,
    deadline: date | None = None,
    period: Period | None = None,
) -> PlanRequest:
    """The objective's metric, change, direction and deadline; arguments override what the text says."""
    if metric is None:
        names = [entry.name for entry in await planning.catalog_entries(session)]
        matched = match_metrics(objective, names)
        metric = matched[0] if matched else None
    if change_percent is None:
        stated_percent = parse_percent(objective)
        change_percent = None if stated_percent is None else stated_percent * 100
    if deadline is None:
        stated = parse_deadline(objective, local_today(await tenant_zone(session)))
        deadline = stated[0] if stated is not None else None
    return PlanRequest(objective, metric, change_percent, wants_decrease(objective), deadline, period)


def as_agent_result(plan: GoalPlan, citations: Citations) -> AgentResult:
    return AgentResult(
        agent=AGENT,
        status=plan.status,
        report=plan.report,
        data={
            "metric": plan.metric,
            "period": plan.period,
            "aggregation": plan.aggregation,
            "baseline_value": plan.baseline_value,
            "deadline": plan.deadline.isoformat() if plan.deadline else None,
            "drafts": [
                {"label": d.label, "rationale": d.rationale, "goal": d.goal, "warnings": d.warnings}
                for d in plan.drafts
            ],
            "needs": plan.needs,
        },
        citations=citations.items,
        suggested_actions=[
            SuggestedAction(f"Create the '{d.label}' goal", "POST", "/api/v1/goals", d.goal)
            for d in plan.drafts
        ],
    )


def _period(value: Any) -> Period | None:
    try:
        return check_period(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def run(session: AsyncSession, question: str, arguments: dict[str, Any]) -> AgentResult:
    deadline = arguments.get("deadline")
    request = await read_objective(
        session,
        str(arguments.get("objective") or question),
        metric=arguments.get("metric"),
        change_percent=arguments.get("change_percent"),
        deadline=date.fromisoformat(deadline) if isinstance(deadline, str) and deadline else None,
        period=_period(arguments.get("period")),
    )
    citations = Citations(AGENT)
    plan = await planning.plan_goals(session, request, citations)
    return as_agent_result(plan, citations)
