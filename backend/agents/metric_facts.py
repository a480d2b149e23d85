"""What the coach knows about one metric without a model: its recent change, its yearly season, its goals.

Read in the caller's tenant session through the goals service (monthly history through the
metric read path, and each active goal's computed progress). Every number is cited, so the
offline answer (:mod:`backend.agents.offline_answer`) can put them in sentences.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from backend.agents.citations import Citation
from backend.agents.types import AgentDeps, Citations
from backend.services.errors import DyocenseError
from backend.services.goals import service as goals_service
from backend.services.goals.types import PeriodValue
from backend.services.metrics.repository import CatalogEntry
from backend.utils.calendar import shift
from backend.utils.repository import PageWindow

SOURCE = "coach"
HISTORY_MONTHS = 25
GOALS_SHOWN = 3
# A month at least this far above (or below) its year's average month is called a peak (a low).
SEASON_MARK = 0.08
UPCOMING_MONTHS = 3


@dataclass
class MetricFacts:
    """Sentences about ``metric`` (each number cited) and the figures a benchmark can check."""

    metric: str
    change: list[str] = field(default_factory=list)
    season: list[str] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    peak_months: list[str] = field(default_factory=list)


def month_name(day: date) -> str:
    return f"{calendar.month_name[day.month]} {day.year}"


async def gather(deps: AgentDeps, entry: CatalogEntry) -> MetricFacts:
    facts = MetricFacts(entry.name)
    cite = Citations(SOURCE)
    zone = ZoneInfo(deps.timezone)
    history = await goals_service.period_history(
        deps.session,
        metric=entry.name,
        period="month",
        aggregation=entry.aggregation,
        since=shift("month", deps.today, -HISTORY_MONTHS),
        until=deps.today,
        zone=zone,
    )
    complete = [p for p in history if p.value is not None and p.end <= deps.today]
    facts.change = _change(cite, entry.name, complete)
    facts.season, facts.peak_months = _season(cite, entry.name, complete)
    facts.goals = await _goals(deps, cite, entry.name)
    facts.citations = cite.items
    return facts


def _value(point: PeriodValue) -> float:
    return point.value if point.value is not None else 0.0


def _change(cite: Citations, metric: str, months: list[PeriodValue]) -> list[str]:
    """The last complete month against the month before and the same month a year earlier."""
    if len(months) < 2:
        return []
    last, previous = months[-1], months[-2]
    method = f"{metric} over the month"
    last_text = cite.number(_value(last), metric=metric, period=_span(last), method=method)
    previous_text = cite.number(_value(previous), metric=metric, period=_span(previous), method=method)
    sentence = (
        f"{metric} was {last_text} in {month_name(last.start)}, "
        f"against {previous_text} in {month_name(previous.start)}"
    )
    if _value(previous):
        change = (_value(last) - _value(previous)) / _value(previous)
        monthly = cite.percent(
            abs(change), metric=metric, period=_span(last), method="change on the month before"
        )
        sentence += f" ({_signed(monthly, change)})"
    year_ago = next((m for m in months if m.start == shift("month", last.start, -12)), None)
    if year_ago is not None and _value(year_ago):
        change = (_value(last) - _value(year_ago)) / _value(year_ago)
        ago_text = cite.number(_value(year_ago), metric=metric, period=_span(year_ago), method=method)
        growth = cite.percent(
            abs(change), metric=metric, period=_span(last), method="change on the same month a year earlier"
        )
        sentence += f"; a year earlier it was {ago_text}, so {_signed(growth, change)} year over year"
    return [sentence + "."]


def centred_average(values: list[float], index: int) -> float | None:
    """The centred 2x12 moving average at ``index`` (the trend of classical seasonal decomposition)."""
    if index < 6 or index + 6 >= len(values):
        return None
    window = values[index - 6 : index + 7]
    return (0.5 * window[0] + sum(window[1:-1]) + 0.5 * window[-1]) / 12


def _season(cite: Citations, metric: str, months: list[PeriodValue]) -> tuple[list[str], list[str]]:
    """The coming months' place in last year's season: how far each one stood above or below the trend
    (its centred 12-month moving average), as classical seasonal decomposition measures it."""
    values = [_value(m) for m in months]
    sentences, peaks = [], []
    for step in range(1, UPCOMING_MONTHS + 1):
        index = len(months) - 1 + step - 12
        trend = centred_average(values, index) if index >= 0 else None
        if not trend:
            continue
        before = months[index]
        ratio = values[index] / trend - 1
        if abs(ratio) < SEASON_MARK:
            continue
        value = cite.number(
            values[index], metric=metric, period=_span(before), method=f"{metric} over the month"
        )
        percent = cite.percent(
            abs(ratio),
            metric=metric,
            period=_span(before),
            method="difference from the centred 12-month moving average (classical seasonal decomposition)",
        )
        name = calendar.month_name[before.start.month]
        if ratio > 0:
            peaks.append(name)
        side = "above" if ratio > 0 else "below"
        sentences.append(f"last {name} {metric} was {value}, {percent} {side} its trend")
    if not sentences:
        return [], []
    return ["Seasonality: " + "; ".join(sentences) + "."], peaks


async def _goals(deps: AgentDeps, cite: Citations, metric: str) -> list[str]:
    """Each active goal on ``metric``: its target and deadline, where it stands and the gap left."""
    goals, _ = await goals_service.list_goals(
        deps.session, status="active", metric=metric, window=PageWindow(GOALS_SHOWN)
    )
    sentences = []
    for goal in goals:
        try:
            _, progress = await goals_service.goal_progress(deps.session, deps.pool, goal.id)
        except DyocenseError:
            continue
        target = cite.number(
            goal.target_value,
            metric=metric,
            period=f"{goal.period} by {goal.deadline}",
            method=f"target of goal '{goal.title}'",
        )
        sentence = f"Goal '{goal.title}': {target} per {goal.period} by {goal.deadline.isoformat()}"
        current = progress.current_value
        if current is not None:
            now = cite.number(
                current, metric=metric, period=None, method=f"current value of goal '{goal.title}'"
            )
            gap = goal.target_value - current
            gap_text = cite.number(
                abs(gap), metric=metric, period=None, method=f"gap to the target of goal '{goal.title}'"
            )
            decreasing = progress.direction == "decrease"
            met = gap <= 0 if not decreasing else gap >= 0
            sentence += f"; now {now}, " + ("the target is met" if met else f"{gap_text} to go")
        if progress.expected_at_deadline is not None:
            expected = cite.number(
                progress.expected_at_deadline,
                metric=metric,
                period=goal.deadline.isoformat(),
                method=f"projection of goal '{goal.title}' at its deadline",
            )
            sentence += f"; projected {expected} at the deadline"
        sentences.append(f"{sentence} ({progress.signal.replace('_', ' ')}).")
    return sentences


def _span(point: PeriodValue) -> str:
    return f"{point.start.isoformat()} to {shift('day', point.end, -1).isoformat()}"


def _signed(text: str, change: float) -> str:
    if change > 0:
        return f"up {text}"
    if change < 0:
        return f"down {text.lstrip('-')}"
    return "unchanged"
