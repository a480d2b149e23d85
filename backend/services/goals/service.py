"""SMART goal rules: validation at creation, computed progress, automatic achieved/missed.

Progress is never typed in: it is computed from the goal's metric, aggregated per
calendar period in the tenant's time zone, by the pure functions in ``progress``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import GoalStatus, GoalStatusChange, SmartGoal
from backend.services.auth import repository as auth_repository
from backend.services.auth.service import Principal
from backend.services.errors import Conflict, ValidationFailed
from backend.services.goals import repository
from backend.services.goals.achievability import achievability_warnings
from backend.services.goals.progress import compute_progress
from backend.services.goals.projection import forecast_goal
from backend.services.goals.rules import baseline_from_history, baseline_meets_target
from backend.services.goals.types import (
    DIRECTION_OF_FAVOURABLE,
    Direction,
    GoalProgress,
    GoalSpec,
    PeriodValue,
)
from backend.services.goals.wording import fmt
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics.buckets import parse_bucket
from backend.services.metrics.reader import MetricQuery
from backend.services.tenant.service import tenant_zone
from backend.utils.calendar import Period, check_period, local_today, period_bounds, shift
from backend.utils.compute import ComputePool
from backend.utils.repository import PageWindow, delete_row, get_or_404

# Periods of history before the goal's start (or today, if earlier) read for baselines, trends,
# plausibility and the forecaster (three years of months: two seasons and a horizon).
HISTORY_PERIODS = 36
# Status changes a person may make; achieved and missed are set from the data.
MANUAL_TRANSITIONS = {
    GoalStatus.DRAFT: {GoalStatus.ACTIVE, GoalStatus.ABANDONED},
    GoalStatus.ACTIVE: {GoalStatus.ABANDONED, GoalStatus.DRAFT},
    GoalStatus.ABANDONED: {GoalStatus.ACTIVE},
    GoalStatus.ACHIEVED: set(),
    GoalStatus.MISSED: set(),
}


@dataclass(frozen=True)
class GoalDraft:
    title: str
    description: str | None
    metric: str
    target_value: float
    aggregation: str | None
    period: str
    baseline_value: float | None
    start_date: date | None
    deadline: date
    owner_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    status: str
    direction: Direction | None = None


async def period_history(
    session: AsyncSession,
    *,
    metric: str,
    period: Period,
    aggregation: str,
    since: date,
    until: date,
    zone: ZoneInfo,
) -> list[PeriodValue]:
    """One value per calendar period with data, from the period containing ``since`` through ``until``.

    The period containing ``until`` also says its last day with data (``data_through``), so its
    pace counts only days that have data. Every read of the metric is here (two rollups through
    the metric read path, which applies the metric's source rule).
    """
    first_start, _ = period_bounds(period, since)
    last_start, last_end = period_bounds(period, until)
    rollup = await metrics_reader.series(
        session,
        _window(metric, first_start, last_end, zone),
        bucket=parse_bucket(period),
        aggregation=aggregation,
        zone=zone.key,
    )
    days = await metrics_reader.series(
        session,
        _window(metric, last_start, last_end, zone),
        bucket=parse_bucket("day"),
        aggregation="count",
        zone=zone.key,
    )
    data_through = max((row.bucket.astimezone(zone).date() for row in days.rows), default=None)
    history = []
    for row in rollup.rows:
        start = row.bucket.astimezone(zone).date()
        through = data_through if start == last_start else None
        history.append(PeriodValue(start, period_bounds(period, start)[1], float(row.value), through))
    return history


def _window(metric: str, start: date, end: date, zone: ZoneInfo) -> MetricQuery:
    return MetricQuery(
        metric=metric,
        start=datetime(start.year, start.month, start.day, tzinfo=zone),
        end=datetime(end.year, end.month, end.day, tzinfo=zone),
    )


async def _favourable_direction(session: AsyncSession, metric: str) -> Direction | None:
    """The goal direction the metric's definition implies (favourable up → increase), if it says."""
    definition = await metrics_reader.definition(session, metric)
    favourable = definition.favourable_direction if definition is not None else None
    return DIRECTION_OF_FAVOURABLE.get(favourable) if favourable is not None else None


async def _direction(session: AsyncSession, draft: GoalDraft) -> Direction:
    direction = draft.direction or await _favourable_direction(session, draft.metric)
    if direction is None:
        raise ValidationFailed(
            f"say whether the goal is to increase or decrease {draft.metric}: give direction, or declare "
            f"the metric's favourable_direction (up or down)",
            context={"field": "direction", "allowed": ["increase", "decrease"]},
        )
    return direction


def _history_start(period: Period, start: date, today: date) -> date:
    return shift(period, min(start, today), -HISTORY_PERIODS)


def _spec(goal: SmartGoal, baseline: float) -> GoalSpec:
    return GoalSpec(
        target=goal.target_value,
        baseline=baseline,
        start_date=goal.start_date,
        deadline=goal.deadline,
        period=check_period(goal.period),
        aggregation=goal.aggregation,  # type: ignore[arg-type]
        direction=goal.direction,  # type: ignore[arg-type]
        metric=goal.metric,
    )


def _holding_warning(spec: GoalSpec) -> list[str]:
    if not baseline_meets_target(spec):
        return []
    side = "at or above" if spec.direction == "increase" else "at or below"
    return [
        f"The baseline ({fmt(spec.baseline)}) already meets the target of {fmt(spec.target)}: the goal "
        f"is achieved by the first complete {spec.period} {side} {fmt(spec.target)}."
    ]


async def create_goal(
    session: AsyncSession, principal: Principal, draft: GoalDraft
) -> tuple[SmartGoal, list[str]]:
    """Validate a goal as SMART and store it; returns plausibility warnings (never blocking)."""
    zone = await tenant_zone(session)
    today = local_today(zone)
    definition = await metrics_reader.definition(session, draft.metric)
    if definition is None:
        raise ValidationFailed(
            f"metric {draft.metric!r} does not exist; ingest data or declare it first",
            context={"field": "metric"},
        )
    start_date = draft.start_date or today
    if draft.deadline <= today:
        raise ValidationFailed("the deadline must be in the future", context={"field": "deadline"})
    if draft.deadline <= start_date:
        raise ValidationFailed("the deadline must be after the start date", context={"field": "deadline"})
    direction = await _direction(session, draft)
    aggregation = draft.aggregation or definition.aggregation
    period = check_period(draft.period)
    history = await period_history(
        session,
        metric=draft.metric,
        period=period,
        aggregation=aggregation,
        since=_history_start(period, start_date, today),
        until=today,
        zone=zone,
    )
    baseline = draft.baseline_value
    if baseline is None:
        baseline = baseline_from_history(period, history, start_date, today=today)
        if baseline is None:
            raise ValidationFailed(
                f"{draft.metric!r} has no complete {draft.period} of history before the start; "
                "give baseline_value",
                context={"field": "baseline_value"},
            )
    if draft.parent_id is not None and await repository.get_goal(session, draft.parent_id) is None:
        raise ValidationFailed("parent goal not found", context={"field": "parent_id"})
    owner_id = draft.owner_id or principal.actor_id
    await _require_owner(session, owner_id)
    goal = SmartGoal(
        tenant_id=principal.tenant_id,
        title=draft.title,
        description=draft.description,
        metric=draft.metric,
        aggregation=aggregation,
        period=draft.period,
        direction=direction,
        target_value=draft.target_value,
        baseline_value=baseline,
        start_date=start_date,
        deadline=draft.deadline,
        status=draft.status,
        owner_id=owner_id,
        parent_id=draft.parent_id,
        status_changed_at=datetime.now(UTC),
    )
    spec = _spec(goal, baseline)
    warnings = achievability_warnings(spec, history, today) + _holding_warning(spec)  # validates too
    session.add(goal)
    await session.flush()
    await session.refresh(goal)
    return goal, warnings


async def _require_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """The owner is a user of this tenant (another tenant's user is invisible under RLS)."""
    if await auth_repository.user_by_id(session, owner_id) is None:
        raise ValidationFailed("owner not found in this tenant", context={"field": "owner_id"})


async def get_goal(session: AsyncSession, goal_id: uuid.UUID) -> SmartGoal:
    return await get_or_404(session, SmartGoal, goal_id, "Goal not found")


# Listing has no rule of its own: the repository's filtered page is the answer.
list_goals = repository.list_goals


async def update_goal(session: AsyncSession, goal_id: uuid.UUID, changes: dict[str, Any]) -> SmartGoal:
    goal = await get_goal(session, goal_id)
    if changes.get("owner_id") is not None:
        await _require_owner(session, changes["owner_id"])
    new_status = changes.pop("status", None)
    if new_status is not None and new_status != goal.status:
        allowed = MANUAL_TRANSITIONS[GoalStatus(goal.status)]
        if GoalStatus(new_status) not in allowed:
            raise Conflict(
                f"a goal cannot move from {goal.status} to {new_status} by hand",
                context={"allowed": sorted(s.value for s in allowed)},
            )
        goal.status = new_status
        goal.status_changed_at = datetime.now(UTC)
    if "deadline" in changes and changes["deadline"] <= local_today(await tenant_zone(session)):
        raise ValidationFailed("the deadline must be in the future", context={"field": "deadline"})
    for field, value in changes.items():
        setattr(goal, field, value)
    if goal.baseline_value is not None and goal.target_value == goal.baseline_value:
        raise ValidationFailed("the target equals the baseline", context={"field": "target_value"})
    if goal.deadline <= goal.start_date:
        raise ValidationFailed("the deadline must be after the start date", context={"field": "deadline"})
    await session.flush()
    await session.refresh(goal)
    return goal


async def delete_goal(session: AsyncSession, goal_id: uuid.UUID) -> None:
    """Sub-goals stay, detached (their parent_id is set to null by the foreign key)."""
    await delete_row(session, await get_goal(session, goal_id))


async def goal_progress(
    session: AsyncSession, pool: ComputePool, goal_id: uuid.UUID
) -> tuple[SmartGoal, GoalProgress]:
    """Progress from the metric, projected by the forecaster; moves an active goal to achieved or
    missed when the data says so, and records a change of the computed status."""
    goal = await get_goal(session, goal_id)
    zone = await tenant_zone(session)
    today = local_today(zone)
    period = check_period(goal.period)
    history = await period_history(
        session,
        metric=goal.metric,
        period=period,
        aggregation=goal.aggregation,
        since=_history_start(period, goal.start_date, today),
        until=today,
        zone=zone,
    )
    assert goal.baseline_value is not None
    spec = _spec(goal, goal.baseline_value)
    progress = compute_progress(spec, history, today)
    if progress.outcome is None:
        forecast = await pool.run(forecast_goal, spec, history, today)
        progress = compute_progress(spec, history, today, forecast)
    if goal.status == GoalStatus.ACTIVE and progress.outcome is not None:
        goal.status = progress.outcome
        goal.status_changed_at = datetime.now(UTC)
    await _record_status(session, goal, progress)
    await session.flush()
    await session.refresh(goal)
    return goal, progress


async def _record_status(session: AsyncSession, goal: SmartGoal, progress: GoalProgress) -> None:
    """A history row when the computed status differs from the last one recorded.

    The goal's row is locked first, so two progress reads at once record one change, not two.
    """
    await repository.lock_goal(session, goal.id)
    previous = await repository.latest_status(session, goal.id)
    if previous is not None and previous.signal == progress.signal:
        return
    projection = progress.projection
    session.add(
        GoalStatusChange(
            tenant_id=goal.tenant_id,
            goal_id=goal.id,
            signal=progress.signal,
            previous_signal=previous.signal if previous is not None else None,
            percent_complete=progress.percent_complete,
            current_value=progress.current_value,
            expected_at_deadline=progress.expected_at_deadline,
            projection_method=projection.method if projection is not None else None,
        )
    )


async def status_history(
    session: AsyncSession, goal_id: uuid.UUID, window: PageWindow
) -> tuple[list[GoalStatusChange], int]:
    """The goal's status changes, newest first."""
    await get_goal(session, goal_id)
    return await repository.status_history(session, goal_id, window)
