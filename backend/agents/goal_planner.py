"""goal_planner: an objective ("grow revenue 20% this year") → SMART goal drafts from the metric's history.

Each draft has a baseline (the last complete period, computed by the goals service's own
rule), a target and a deadline; drafts are never saved — each comes with the
``POST /api/v1/goals`` body that creates it. Targets come from the objective (a stated
percentage) or from the history: the median period-over-period change ("on trend") and
the best sustained change ("stretch"), compounded to the deadline. Every draft is checked
with the goals service's plausibility rule.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.agents.question import (
    default_deadline,
    match_metrics,
    parse_deadline,
    parse_percent,
    wants_decrease,
)
from backend.agents.types import AgentName, AgentResult, Citations, SuggestedAction
from backend.services.goals.periods import PERIOD_ADJECTIVE, period_index
from backend.services.goals.progress import GoalSpec, achievability_warnings, baseline_from_history
from backend.services.goals.service import period_history
from backend.services.metrics import service as metrics_service
from backend.services.metrics.repository import CatalogEntry
from backend.services.tenant.service import tenant_zone

AGENT: AgentName = "goal_planner"
Period = Literal["day", "week", "month", "quarter", "year"]
HISTORY_PERIODS = 24
# Changes needed before the history says what growth is normal (as the goals service judges it).
MIN_CHANGES = 4
SUSTAINED_WINDOW = 3
# Without a stated deadline the drafts look this many months ahead (a planning default, said so).
DEFAULT_HORIZON_MONTHS = 6
CATALOG_LIMIT = 200
SHORT_DEADLINE_DAYS = 62
WEEKLY_SPACING_DAYS = 7
_PERIOD_DAYS = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}


@dataclass
class GoalPlanDraft:
    label: str
    rationale: str
    goal: dict[str, Any]
    warnings: list[str]


@dataclass
class GoalPlan:
    status: Literal["ok", "needs_input"]
    objective: str
    report: list[str]
    metric: str | None = None
    period: str | None = None
    aggregation: str | None = None
    baseline_value: float | None = None
    baseline_start: date | None = None
    baseline_end: date | None = None
    deadline: date | None = None
    drafts: list[GoalPlanDraft] = field(default_factory=list)
    citations: Citations = field(default_factory=lambda: Citations(AGENT))
    needs: list[str] = field(default_factory=list)

    def as_agent_result(self) -> AgentResult:
        return AgentResult(
            agent=AGENT,
            status=self.status,
            report=self.report,
            data={
                "metric": self.metric,
                "period": self.period,
                "aggregation": self.aggregation,
                "baseline_value": self.baseline_value,
                "deadline": self.deadline.isoformat() if self.deadline else None,
                "drafts": [
                    {"label": d.label, "rationale": d.rationale, "goal": d.goal, "warnings": d.warnings}
                    for d in self.drafts
                ],
                "needs": self.needs,
            },
            citations=self.citations.items,
            suggested_actions=[
                SuggestedAction(f"Create the '{d.label}' goal", "POST", "/api/v1/goals", d.goal)
                for d in self.drafts
            ],
        )


def _span(start: date, end_exclusive: date) -> str:
    return f"{start.isoformat()} to {(end_exclusive - timedelta(days=1)).isoformat()}"


def _default_period(entry: CatalogEntry, deadline: date, today: date) -> Period:
    """Monthly goals, or weekly ones for a deadline under two months away on data at least weekly."""
    if (deadline - today).days >= SHORT_DEADLINE_DAYS or entry.first_ts is None or entry.last_ts is None:
        return "month"
    spacing_days = (entry.last_ts - entry.first_ts).days / max(entry.points - 1, 1)
    return "week" if spacing_days <= WEEKLY_SPACING_DAYS else "month"


def _changes(observed: list[tuple[int, float]], relative: bool) -> list[float]:
    return [
        (current / previous - 1.0) if relative else (current - previous)
        for (i, previous), (j, current) in itertools.pairwise(observed)
        if j == i + 1
    ]


def _project(baseline: float, change: float, steps: int, relative: bool) -> float:
    return baseline * (1.0 + change) ** steps if relative else baseline + change * steps


async def plan_goals(
    session: AsyncSession,
    objective: str,
    *,
    metric: str | None = None,
    change_percent: float | None = None,
    deadline: date | None = None,
    period: Period | None = None,
) -> GoalPlan:
    """Drafts for ``objective``; arguments override what is read from the objective's text."""
    zone = await tenant_zone(session)
    today = datetime.now(UTC).astimezone(zone).date()
    catalog, _ = await metrics_service.list_catalog(session, limit=CATALOG_LIMIT, offset=0)
    names = [entry.name for entry in catalog]
    if metric is None:
        matched = match_metrics(objective, names)
        metric = matched[0] if matched else None
    if metric is None or metric not in names:
        known = ", ".join(names) if names else "none yet (ingest metrics first)"
        asked = (
            f"'{metric}' is not one of the tenant's metrics" if metric else "The objective names no metric"
        )
        return GoalPlan(
            "needs_input",
            objective,
            [f"{asked}. Which metric should the goal track? Known metrics: {known}."],
            needs=["metric"],
        )
    entry = next(e for e in catalog if e.name == metric)
    aggregation = entry.aggregation
    plan = GoalPlan("ok", objective, [], metric=metric, aggregation=aggregation)
    cite = plan.citations

    stated = parse_deadline(objective, today) if deadline is None else (deadline, deadline.isoformat())
    if stated is not None:
        deadline = stated[0]
    if deadline is None or deadline <= today:
        if deadline is not None:
            plan.report.append(f"The stated deadline {deadline.isoformat()} is not in the future.")
        deadline = default_deadline(today, DEFAULT_HORIZON_MONTHS)
        plan.report.append(f"No usable deadline was stated, so the drafts use {deadline.isoformat()}.")
    chosen_period: Period = period or _default_period(entry, deadline, today)
    plan.period, plan.deadline = chosen_period, deadline

    history = await period_history(
        session,
        metric=metric,
        period=chosen_period,
        aggregation=aggregation,
        since=today - timedelta(days=_PERIOD_DAYS[chosen_period] * HISTORY_PERIODS),
        until=today,
        zone=zone,
    )
    baseline = baseline_from_history(chosen_period, history, today, today=today)
    if baseline is None:
        plan.status = "needs_input"
        plan.needs = ["baseline_value"]
        plan.report.append(
            f"{metric} has no complete {chosen_period} of data yet, so there is no baseline to plan from; "
            "ingest more history or give the baseline."
        )
        return plan
    base_item = next(item for item in reversed(history) if item.value == baseline and item.end <= today)
    plan.baseline_value, plan.baseline_start, plan.baseline_end = baseline, base_item.start, base_item.end
    adjective = PERIOD_ADJECTIVE[chosen_period]
    base_text = cite.number(
        baseline,
        metric=metric,
        period=_span(base_item.start, base_item.end),
        method=f"{aggregation} of {metric} over the last complete {chosen_period}",
    )
    plan.report.append(
        f"Baseline: {adjective.lower()} {metric} ({aggregation}) was {base_text} in the last complete "
        f"{chosen_period} ({_span(base_item.start, base_item.end)})."
    )

    observed = [
        (period_index(chosen_period, item.start), item.value, item)
        for item in history
        if item.value is not None and item.end <= today
    ]
    relative = baseline > 0 and all(value > 0 for _, value, _ in observed)
    changes = _changes([(i, v) for i, v, _ in observed], relative)
    steps = max(1, period_index(chosen_period, deadline) - period_index(chosen_period, today) + 1)
    decrease = wants_decrease(objective)
    if change_percent is None:
        stated_percent = parse_percent(objective)
        change_percent = None if stated_percent is None else stated_percent * 100
    deadline_period = f"by {deadline.isoformat()}"

    candidates: list[tuple[str, float, str]] = []
    if change_percent is not None:
        fraction = -abs(change_percent) / 100 if decrease else abs(change_percent) / 100
        target = baseline * (1 + fraction)
        wording = cite.percent(
            fraction, metric=metric, period=deadline_period, method="change stated in the objective"
        )
        candidates.append(
            ("requested", target, f"the {wording} change the objective asks for, on the baseline")
        )
    history_span = _span(observed[0][2].start, observed[-1][2].end) if observed else ""
    if len(changes) >= MIN_CHANGES:
        unit = f"per {chosen_period}"
        how = "relative" if relative else "absolute"
        median = statistics.median(changes)
        window = min(SUSTAINED_WINDOW, len(changes))
        sustained = [statistics.fmean(changes[i : i + window]) for i in range(len(changes) - window + 1)]
        best = min(sustained) if decrease else max(sustained)
        count_text = cite.number(
            len(changes),
            metric=metric,
            period=history_span,
            method=f"{chosen_period}-over-{chosen_period} changes counted",
        )

        def rate(value: float, method: str) -> str:
            if relative:
                return cite.percent(value, metric=metric, period=history_span, method=method)
            return cite.number(value, metric=metric, period=history_span, method=method)

        median_text = rate(median, f"median {how} {chosen_period}-over-{chosen_period} change")
        best_text = rate(
            best, f"best average of consecutive {how} changes ({'lowest' if decrease else 'highest'})"
        )
        plan.report.append(
            f"History {history_span}: over {count_text} {chosen_period}-over-{chosen_period} changes "
            "the median "
            f"change was {median_text} {unit}, the best sustained change {best_text} {unit}."
        )
        for label, change, name in (("on trend", median, median_text), ("stretch", best, best_text)):
            target = _project(baseline, change, steps, relative)
            moves_right_way = target < baseline if decrease else target > baseline
            if moves_right_way:
                steps_text = cite.number(
                    steps,
                    metric=None,
                    period=f"{today.isoformat()} to {deadline.isoformat()}",
                    method=f"{chosen_period}s from now to the deadline",
                )
                candidates.append((label, target, f"{name} {unit} kept up for {steps_text} {chosen_period}s"))
    else:
        plan.report.append(
            f"The history has too few consecutive complete {chosen_period}s to say what change is normal, "
            "so no target is derived from it."
        )
    if not candidates:
        plan.status = "needs_input"
        plan.needs = ["target_change_percent"]
        plan.report.append("State the change you want (for example a percentage) to get a draft.")
        return plan

    seen: set[float] = set()
    for label, target, reason in candidates:
        rounded = round(target, 2)
        if rounded in seen or rounded == round(baseline, 2):
            continue
        seen.add(rounded)
        target_text = cite.number(
            target, metric=metric, period=deadline_period, method=f"{label} target: {reason}"
        )
        relative_text = cite.percent(
            target / baseline - 1 if baseline else 0.0,
            metric=metric,
            period=deadline_period,
            method=f"{label} target compared with the baseline",
        )
        spec = GoalSpec(
            target=rounded,
            baseline=baseline,
            start_date=today,
            deadline=deadline,
            period=chosen_period,
            aggregation=aggregation,  # type: ignore[arg-type]
            metric=metric,
        )
        warnings = achievability_warnings(spec, history, today)
        title = f"{adjective} {metric.replace('_', ' ')} to {target_text} by {deadline.isoformat()}"
        goal = {
            "title": title[:200],
            "description": f"Drafted by the coach from the objective: {objective}"[:2000],
            "metric": metric,
            "target_value": rounded,
            "aggregation": aggregation,
            "period": chosen_period,
            "baseline_value": baseline,
            "start_date": today.isoformat(),
            "deadline": deadline.isoformat(),
            "status": "draft",
        }
        plan.drafts.append(GoalPlanDraft(label, reason, goal, warnings))
        flag = (
            " The history suggests it may not be achievable (see the draft's warnings)." if warnings else ""
        )
        plan.report.append(
            f"Draft '{label}': {adjective.lower()} {metric} of {target_text} by {deadline.isoformat()} "
            f"({relative_text} against the baseline), from {reason}.{flag}"
        )
    return plan


async def run(session: AsyncSession, question: str, arguments: dict[str, Any]) -> AgentResult:
    deadline = arguments.get("deadline")
    plan = await plan_goals(
        session,
        str(arguments.get("objective") or question),
        metric=arguments.get("metric"),
        change_percent=arguments.get("change_percent"),
        deadline=date.fromisoformat(deadline) if isinstance(deadline, str) and deadline else None,
        period=arguments.get("period"),
    )
    return plan.as_agent_result()
