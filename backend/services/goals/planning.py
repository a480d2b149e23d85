"""Goal planning: an objective's metric, change and deadline → SMART goal drafts from the history.

Each draft has a baseline (the last complete period, by the goals' own rule), a target and a
deadline; drafts are never saved: each comes with the ``POST /api/v1/goals`` body that creates
it. Targets come from the stated change (a percentage) or from the history: the median
period-over-period change ("on trend") and the best sustained change ("stretch"), compounded
to the deadline. Every draft is checked with the goals' plausibility rule.

Reading the objective's words (which metric, what change, by when) is the caller's: the coach's
goal planner reads them and passes a ``PlanRequest``. Every number the report shows goes
through the caller's ``NumberCiter``, so each one can be traced to how it was computed.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.goals.achievability import achievability_warnings
from backend.services.goals.rules import baseline_from_history
from backend.services.goals.service import period_history
from backend.services.goals.types import Direction, GoalSpec, PeriodValue
from backend.services.metrics import service as metrics_service
from backend.services.metrics.repository import CatalogEntry
from backend.services.tenant.service import tenant_zone
from backend.utils.calendar import PERIOD_ADJECTIVE, Period, local_today, period_index, shift
from backend.utils.repository import PageWindow

HISTORY_PERIODS: Final = 24
# Changes needed before the history says what growth is normal (as the goals' plausibility rule).
MIN_CHANGES: Final = 4
SUSTAINED_WINDOW: Final = 3
# Without a stated deadline the drafts look this many months ahead (a planning default, said so).
DEFAULT_HORIZON_MONTHS: Final = 6
CATALOG_LIMIT: Final = 200
SHORT_DEADLINE_DAYS: Final = 62
WEEKLY_SPACING_DAYS: Final = 7


class NumberCiter(Protocol):
    """Records each number shown in the report and returns the text to show for it."""

    def number(self, value: float, *, metric: str | None, period: str | None, method: str) -> str: ...

    def percent(self, fraction: float, *, metric: str | None, period: str | None, method: str) -> str: ...


@dataclass(frozen=True)
class PlanRequest:
    """What the objective asks for, already read: ``None`` fields take the planning defaults."""

    objective: str
    metric: str | None = None
    change_percent: float | None = None
    decrease: bool = False
    deadline: date | None = None
    period: Period | None = None


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
    period: Period | None = None
    aggregation: str | None = None
    baseline_value: float | None = None
    baseline_start: date | None = None
    baseline_end: date | None = None
    deadline: date | None = None
    drafts: list[GoalPlanDraft] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)

    def ask(self, need: str, message: str) -> GoalPlan:
        self.status = "needs_input"
        self.needs = [need]
        self.report.append(message)
        return self


@dataclass(frozen=True)
class _Candidate:
    label: str
    target: float
    reason: str


@dataclass(frozen=True)
class _Context:
    """What every step of one plan shares."""

    request: PlanRequest
    metric: str
    aggregation: str
    period: Period
    deadline: date
    today: date
    history: list[PeriodValue]
    baseline: float
    cite: NumberCiter

    @property
    def direction(self) -> Direction:
        return "decrease" if self.request.decrease else "increase"

    @property
    def deadline_text(self) -> str:
        return f"by {self.deadline.isoformat()}"

    @property
    def steps(self) -> int:
        return max(1, period_index(self.period, self.deadline) - period_index(self.period, self.today) + 1)


def _span(start: date, end_exclusive: date) -> str:
    return f"{start.isoformat()} to {(end_exclusive - timedelta(days=1)).isoformat()}"


def default_deadline(today: date, months: int) -> date:
    """The last day of the month ``months`` after today's."""
    return shift("month", today, months + 1) - timedelta(days=1)


def _default_period(entry: CatalogEntry, deadline: date, today: date) -> Period:
    """Monthly goals, or weekly ones for a deadline under two months away on data at least weekly."""
    if (deadline - today).days >= SHORT_DEADLINE_DAYS or entry.first_ts is None or entry.last_ts is None:
        return "month"
    spacing_days = (entry.last_ts - entry.first_ts).days / max(entry.points - 1, 1)
    return "week" if spacing_days <= WEEKLY_SPACING_DAYS else "month"


def _changes(observed: Sequence[tuple[int, float]], relative: bool) -> list[float]:
    return [
        (current / previous - 1.0) if relative else (current - previous)
        for (i, previous), (j, current) in itertools.pairwise(observed)
        if j == i + 1
    ]


def _project(baseline: float, change: float, steps: int, relative: bool) -> float:
    return baseline * (1.0 + change) ** steps if relative else baseline + change * steps


def _deadline(plan: GoalPlan, request: PlanRequest, today: date) -> date:
    deadline = request.deadline
    if deadline is not None and deadline > today:
        return deadline
    if deadline is not None:
        plan.report.append(f"The stated deadline {deadline.isoformat()} is not in the future.")
    chosen = default_deadline(today, DEFAULT_HORIZON_MONTHS)
    plan.report.append(f"No usable deadline was stated, so the drafts use {chosen.isoformat()}.")
    return chosen


def _complete(history: Sequence[PeriodValue], today: date) -> list[PeriodValue]:
    return [item for item in history if item.value is not None and item.end <= today]


def _report_baseline(plan: GoalPlan, context: _Context) -> None:
    base_item = next(item for item in reversed(_complete(context.history, context.today)))
    plan.baseline_value, plan.baseline_start, plan.baseline_end = (
        context.baseline,
        base_item.start,
        base_item.end,
    )
    span = _span(base_item.start, base_item.end)
    base_text = context.cite.number(
        context.baseline,
        metric=context.metric,
        period=span,
        method=f"{context.aggregation} of {context.metric} over the last complete {context.period}",
    )
    adjective = PERIOD_ADJECTIVE[context.period].lower()
    plan.report.append(
        f"Baseline: {adjective} {context.metric} ({context.aggregation}) was {base_text} "
        f"in the last complete {context.period} ({span})."
    )


def _requested(context: _Context) -> list[_Candidate]:
    percent = context.request.change_percent
    if percent is None:
        return []
    fraction = -abs(percent) / 100 if context.request.decrease else abs(percent) / 100
    wording = context.cite.percent(
        fraction, metric=context.metric, period=context.deadline_text, method="change stated in the objective"
    )
    reason = f"the {wording} change the objective asks for, on the baseline"
    return [_Candidate("requested", context.baseline * (1 + fraction), reason)]


def _from_history(plan: GoalPlan, context: _Context) -> list[_Candidate]:
    """On-trend and stretch targets from the history's median and best sustained changes."""
    complete = _complete(context.history, context.today)
    observed = [(period_index(context.period, item.start), float(item.value or 0.0)) for item in complete]
    relative = context.baseline > 0 and all(value > 0 for _, value in observed)
    changes = _changes(observed, relative)
    period = context.period
    if len(changes) < MIN_CHANGES:
        plan.report.append(
            f"The history has too few consecutive complete {period}s to say what change is normal, "
            "so no target is derived from it."
        )
        return []
    history_span = _span(complete[0].start, complete[-1].end)
    cite, metric = context.cite, context.metric
    how = "relative" if relative else "absolute"

    def rate(value: float, method: str) -> str:
        if relative:
            return cite.percent(value, metric=metric, period=history_span, method=method)
        return cite.number(value, metric=metric, period=history_span, method=method)

    window = min(SUSTAINED_WINDOW, len(changes))
    sustained = [statistics.fmean(changes[i : i + window]) for i in range(len(changes) - window + 1)]
    best = min(sustained) if context.request.decrease else max(sustained)
    median = statistics.median(changes)
    count_text = cite.number(
        len(changes), metric=metric, period=history_span, method=f"{period}-over-{period} changes counted"
    )
    median_text = rate(median, f"median {how} {period}-over-{period} change")
    extreme = "lowest" if context.request.decrease else "highest"
    best_text = rate(best, f"best average of consecutive {how} changes ({extreme})")
    plan.report.append(
        f"History {history_span}: over {count_text} {period}-over-{period} changes the median "
        f"change was {median_text} per {period}, the best sustained change {best_text} per {period}."
    )
    return [
        candidate
        for label, change, name in (("on trend", median, median_text), ("stretch", best, best_text))
        if (candidate := _trend_candidate(context, label, change, name, relative)) is not None
    ]


def _trend_candidate(
    context: _Context, label: str, change: float, name: str, relative: bool
) -> _Candidate | None:
    target = _project(context.baseline, change, context.steps, relative)
    moves_right_way = target < context.baseline if context.request.decrease else target > context.baseline
    if not moves_right_way:
        return None
    steps_text = context.cite.number(
        context.steps,
        metric=None,
        period=f"{context.today.isoformat()} to {context.deadline.isoformat()}",
        method=f"{context.period}s from now to the deadline",
    )
    reason = f"{name} per {context.period} kept up for {steps_text} {context.period}s"
    return _Candidate(label, target, reason)


def _draft(plan: GoalPlan, context: _Context, candidate: _Candidate, rounded: float) -> None:
    cite, metric, deadline_text = context.cite, context.metric, context.deadline_text
    target_text = cite.number(
        candidate.target,
        metric=metric,
        period=deadline_text,
        method=f"{candidate.label} target: {candidate.reason}",
    )
    relative_text = cite.percent(
        candidate.target / context.baseline - 1 if context.baseline else 0.0,
        metric=metric,
        period=deadline_text,
        method=f"{candidate.label} target compared with the baseline",
    )
    spec = GoalSpec(
        target=rounded,
        baseline=context.baseline,
        start_date=context.today,
        deadline=context.deadline,
        period=context.period,
        aggregation=context.aggregation,  # type: ignore[arg-type]
        direction=context.direction,
        metric=metric,
    )
    warnings = achievability_warnings(spec, context.history, context.today)
    adjective = PERIOD_ADJECTIVE[context.period]
    deadline = context.deadline.isoformat()
    goal = {
        "title": f"{adjective} {metric.replace('_', ' ')} to {target_text} by {deadline}"[:200],
        "description": f"Drafted by the coach from the objective: {context.request.objective}"[:2000],
        "metric": metric,
        "target_value": rounded,
        "aggregation": context.aggregation,
        "period": context.period,
        "direction": context.direction,
        "baseline_value": context.baseline,
        "start_date": context.today.isoformat(),
        "deadline": deadline,
        "status": "draft",
    }
    plan.drafts.append(GoalPlanDraft(candidate.label, candidate.reason, goal, warnings))
    flag = " The history suggests it may not be achievable (see the draft's warnings)." if warnings else ""
    plan.report.append(
        f"Draft '{candidate.label}': {adjective.lower()} {metric} of {target_text} by {deadline} "
        f"({relative_text} against the baseline), from {candidate.reason}.{flag}"
    )


def _add_drafts(plan: GoalPlan, context: _Context, candidates: Sequence[_Candidate]) -> None:
    seen: set[float] = set()
    for candidate in candidates:
        rounded = round(candidate.target, 2)
        if rounded in seen or rounded == round(context.baseline, 2):
            continue
        seen.add(rounded)
        _draft(plan, context, candidate, rounded)


def _unknown_metric(plan: GoalPlan, metric: str | None, names: Sequence[str]) -> GoalPlan:
    known = ", ".join(names) if names else "none yet (ingest metrics first)"
    asked = f"'{metric}' is not one of the tenant's metrics" if metric else "The objective names no metric"
    return plan.ask("metric", f"{asked}. Which metric should the goal track? Known metrics: {known}.")


async def catalog_entries(session: AsyncSession) -> list[CatalogEntry]:
    """The tenant's metrics a plan can track (the first ``CATALOG_LIMIT``)."""
    catalog, _ = await metrics_service.list_catalog(session, PageWindow(CATALOG_LIMIT))
    return catalog


async def plan_goals(session: AsyncSession, request: PlanRequest, cite: NumberCiter) -> GoalPlan:
    """Drafts for the request, with a report whose every number went through ``cite``."""
    zone = await tenant_zone(session)
    today = local_today(zone)
    catalog = await catalog_entries(session)
    plan = GoalPlan("ok", request.objective, [])
    entry = next((e for e in catalog if e.name == request.metric), None)
    if entry is None:
        return _unknown_metric(plan, request.metric, [e.name for e in catalog])
    plan.metric, plan.aggregation = entry.name, entry.aggregation
    deadline = _deadline(plan, request, today)
    period = request.period or _default_period(entry, deadline, today)
    plan.period, plan.deadline = period, deadline
    history = await period_history(
        session,
        metric=entry.name,
        period=period,
        aggregation=entry.aggregation,
        since=shift(period, today, -HISTORY_PERIODS),
        until=today,
        zone=zone,
    )
    baseline = baseline_from_history(period, history, today, today=today)
    if baseline is None:
        return plan.ask(
            "baseline_value",
            f"{entry.name} has no complete {period} of data yet, so there is no baseline to plan from; "
            "ingest more history or give the baseline.",
        )
    context = _Context(
        request, entry.name, entry.aggregation, period, deadline, today, history, baseline, cite
    )
    _report_baseline(plan, context)
    candidates = _requested(context) + _from_history(plan, context)
    if not candidates:
        return plan.ask(
            "target_change_percent", "State the change you want (for example a percentage) to get a draft."
        )
    _add_drafts(plan, context, candidates)
    return plan
