"""SMART goal rules: validation at creation, computed progress, automatic achieved/missed.

Progress is never typed in: it is computed from the goal's metric, aggregated per
calendar period in the tenant's time zone, by the pure functions in ``progress``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import GoalStatus, SmartGoal
from backend.services.auth import repository as auth_repository
from backend.services.auth.service import Principal
from backend.services.errors import Conflict, NotFound, ValidationFailed
from backend.services.goals import repository
from backend.services.goals.periods import period_bounds
from backend.services.goals.progress import (
    GoalProgress,
    GoalSpec,
    PeriodValue,
    achievability_warnings,
    baseline_from_history,
    compute_progress,
)
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics.buckets import parse_bucket
from backend.services.metrics.reader import MetricQuery
from backend.services.tenant.service import tenant_zone

# Periods of history before the goal's start used for baselines, trends and plausibility.
HISTORY_PERIODS = 24
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


def _local_today(zone: ZoneInfo) -> date:
    return datetime.now(UTC).astimezone(zone).date()


async def period_history(
    session: AsyncSession,
    *,
    metric: str,
    period: str,
    aggregation: str,
    since: date,
    until: date,
    zone: ZoneInfo,
) -> list[PeriodValue]:
    """One value per calendar period with data, from the period containing ``since`` through ``until``."""
    first_start, _ = period_bounds(period, since)  # type: ignore[arg-type]
    _, last_end = period_bounds(period, until)  # type: ignore[arg-type]
    filters = MetricQuery(
        metric=metric,
        start=datetime(first_start.year, first_start.month, first_start.day, tzinfo=zone),
        end=datetime(last_end.year, last_end.month, last_end.day, tzinfo=zone),
    )
    rollup = await metrics_reader.series(
        session, filters, bucket=parse_bucket(period), aggregation=aggregation, zone=zone.key
    )
    history = []
    for row in rollup.rows:
        start = row.bucket.astimezone(zone).date()
        history.append(PeriodValue(start=start, end=period_bounds(period, start)[1], value=float(row.value)))  # type: ignore[arg-type]
    return history


def _history_start(period: str, start: date) -> date:
    days = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}[period]
    return start - timedelta(days=days * HISTORY_PERIODS)


def _spec(goal: SmartGoal, baseline: float) -> GoalSpec:
    return GoalSpec(
        target=goal.target_value,
        baseline=baseline,
        start_date=goal.start_date,
        deadline=goal.deadline,
        period=goal.period,  # type: ignore[arg-type]
        aggregation=goal.aggregation,  # type: ignore[arg-type]
        metric=goal.metric,
    )


async def create_goal(
    session: AsyncSession, principal: Principal, draft: GoalDraft
) -> tuple[SmartGoal, list[str]]:
    """Validate a goal as SMART and store it; returns plausibility warnings (never blocking)."""
    zone = await tenant_zone(session)
    today = _local_today(zone)
    definition = await metrics_reader.definition(session, draft.metric)
    if definition is None:
        raise ValidationFailed(
            f"metric {draft.metric!r} does not exist; ingest data or declare it first",
            details={"field": "metric"},
        )
    start_date = draft.start_date or today
    if draft.deadline <= today:
        raise ValidationFailed("the deadline must be in the future", details={"field": "deadline"})
    if draft.deadline <= start_date:
        raise ValidationFailed("the deadline must be after the start date", details={"field": "deadline"})
    aggregation = draft.aggregation or definition.aggregation
    history = await period_history(
        session,
        metric=draft.metric,
        period=draft.period,
        aggregation=aggregation,
        since=_history_start(draft.period, start_date),
        until=today,
        zone=zone,
    )
    baseline = draft.baseline_value
    if baseline is None:
        baseline = baseline_from_history(draft.period, history, start_date, today=today)  # type: ignore[arg-type]
        if baseline is None:
            raise ValidationFailed(
                f"{draft.metric!r} has no complete {draft.period} of history before the start; "
                "give baseline_value",
                details={"field": "baseline_value"},
            )
    if draft.parent_id is not None and await repository.get_goal(session, draft.parent_id) is None:
        raise ValidationFailed("parent goal not found", details={"field": "parent_id"})
    owner_id = draft.owner_id or principal.actor_id
    await _require_owner(session, owner_id)
    goal = SmartGoal(
        tenant_id=principal.tenant_id,
        title=draft.title,
        description=draft.description,
        metric=draft.metric,
        aggregation=aggregation,
        period=draft.period,
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
    warnings = achievability_warnings(spec, history, today)  # also validates target != baseline
    session.add(goal)
    await session.flush()
    await session.refresh(goal)
    return goal, warnings


async def _require_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """The owner is a user of this tenant (another tenant's user is invisible under RLS)."""
    if await auth_repository.user_by_id(session, owner_id) is None:
        raise ValidationFailed("owner not found in this tenant", details={"field": "owner_id"})


async def get_goal(session: AsyncSession, goal_id: uuid.UUID) -> SmartGoal:
    goal = await repository.get_goal(session, goal_id)
    if goal is None:
        raise NotFound("Goal not found")
    return goal


async def list_goals(
    session: AsyncSession, *, status: str | None, metric: str | None, limit: int, offset: int
) -> tuple[list[SmartGoal], int]:
    return await repository.list_goals(session, status=status, metric=metric, limit=limit, offset=offset)


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
                details={"allowed": sorted(s.value for s in allowed)},
            )
        goal.status = new_status
        goal.status_changed_at = datetime.now(UTC)
    if "deadline" in changes and changes["deadline"] <= _local_today(await tenant_zone(session)):
        raise ValidationFailed("the deadline must be in the future", details={"field": "deadline"})
    for field, value in changes.items():
        setattr(goal, field, value)
    if goal.baseline_value is not None and goal.target_value == goal.baseline_value:
        raise ValidationFailed("the target equals the baseline", details={"field": "target_value"})
    if goal.deadline <= goal.start_date:
        raise ValidationFailed("the deadline must be after the start date", details={"field": "deadline"})
    await session.flush()
    await session.refresh(goal)
    return goal


async def delete_goal(session: AsyncSession, goal_id: uuid.UUID) -> None:
    """Sub-goals stay, detached (their parent_id is set to null by the foreign key)."""
    goal = await get_goal(session, goal_id)
    await session.delete(goal)
    await session.flush()


async def goal_progress(session: AsyncSession, goal_id: uuid.UUID) -> tuple[SmartGoal, GoalProgress]:
    """Compute progress from the metric; moves an active goal to achieved or missed when the data says so."""
    goal = await get_goal(session, goal_id)
    zone = await tenant_zone(session)
    today = _local_today(zone)
    history = await period_history(
        session,
        metric=goal.metric,
        period=goal.period,
        aggregation=goal.aggregation,
        since=_history_start(goal.period, goal.start_date),
        until=today,
        zone=zone,
    )
    assert goal.baseline_value is not None
    progress = compute_progress(_spec(goal, goal.baseline_value), history, today)
    if goal.status == GoalStatus.ACTIVE and progress.outcome is not None:
        goal.status = progress.outcome
        goal.status_changed_at = datetime.now(UTC)
        await session.flush()
        await session.refresh(goal)
    return goal, progress
