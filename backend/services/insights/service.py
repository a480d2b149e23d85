"""The insight engine's run for one tenant: what it watches, what it reads, what it stores.

**Scope.** Every metric some user of the tenant follows. A tenant where nobody follows anything
gets its metrics whose definition states a favourable direction: declaring the direction says the
metric matters and which way is good, which the severities need; metrics without one are not
watched until someone follows them. Goals at risk (every active goal, through the goals service's
own progress, which also records a change of the goal's signal as reading its progress does) and
data health (every active connector, every watched metric's cadence) are checked on every run.

**Reads.** Only through the metric read path (``metrics.service.rollup_page`` with the metric's
currency plan, so money reads as the rollup API reads it): daily buckets of the last
``DAY_WINDOW`` days, weekly buckets of the last ``WEEK_WINDOW`` weeks, and weekly buckets per value
of up to ``MAX_DIMENSIONS`` dimensions over ``GROUP_WEEK_WINDOW`` weeks; the dimensions are found
from the last two weeks' raw points. All in the tenant's time zone; today (incomplete) is never read.

**Writes.** Each finding once: its idempotency key (type, metric, period, variant) is unique per
tenant and inserted with ``ON CONFLICT DO NOTHING``, so a re-run, a retried job or two workers
at once add nothing new. The first finding of a key wins; a later correction of the data does
not rewrite an insight already stored.

**Suggested actions** come from ``actions.with_actions``: where the newest marketing-mix model
explains the insight's metric, the optimizer's better split of the recent spend, with its expected
gain; elsewhere none (an action without its expected effect would be a guess).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ConnectorSync, DataSource
from backend.services.alerts import service as alerts
from backend.services.connectors.schedule import next_run
from backend.services.errors import DyocenseError
from backend.services.goals import service as goals
from backend.services.insights import repository
from backend.services.insights.actions import with_actions
from backend.services.insights.changes import week_start
from backend.services.insights.engine import detect_many
from backend.services.insights.health import (
    GoalState,
    SourceHealth,
    SyncState,
    connector_findings,
    goal_at_risk,
)
from backend.services.insights.types import (
    DAY_WINDOW,
    GROUP_WEEK_WINDOW,
    WEEK_WINDOW,
    DatedValue,
    Finding,
    MetricHistory,
)
from backend.services.metrics import reader
from backend.services.metrics import service as metrics
from backend.services.metrics.buckets import parse_bucket
from backend.services.metrics.reader import MetricQuery
from backend.services.queue import JobKind
from backend.services.tenant.service import tenant_zone
from backend.utils.calendar import local_today
from backend.utils.compute import ComputePool

logger = structlog.get_logger(__name__)

MAX_DIMENSIONS = 3
DIMENSION_SAMPLE_POINTS = 2_000
NOT_DIMENSIONS = frozenset({"currency"})  # a unit, not a segment of the business
INSIGHTS_QUEUE = "insights"

Scope = Literal["followed", "favourable_direction"]


class InsightRun(BaseModel):
    """The payload of an engine run: ``today`` (a local date) is for replays; None is today."""

    trigger: Literal["manual", "schedule", "ingest"] = "manual"
    today: date | None = None


RUN_JOB = JobKind(
    "insights.run", InsightRun, queue=INSIGHTS_QUEUE, max_attempts=3, lock=lambda payload: "insights.run"
)


@dataclass(frozen=True)
class RunSummary:
    today: date
    scope: Scope
    metrics: list[str]
    found: int
    created: int
    by_type: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)
    alerts: int = 0  # alerts the run's insights and threshold rules raised


async def engine_scope(session: AsyncSession) -> tuple[list[str], Scope]:
    followed = await repository.followed_metrics(session)
    if followed:
        return followed, "followed"
    return await repository.metrics_with_direction(session), "favourable_direction"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


async def _buckets(
    session: AsyncSession,
    definition: reader.MetricDefinitionInfo,
    *,
    start: date,
    end: date,
    bucket: str,
    zone: ZoneInfo,
    group_by: str | None = None,
) -> dict[str | None, list[DatedValue]]:
    ask = metrics.RollupRequest(
        filters=MetricQuery(definition.name, start=_midnight(start, zone), end=_midnight(end, zone)),
        bucket=parse_bucket(bucket),
        aggregation=definition.aggregation,
        zone=zone,
        group_by=group_by,
        fill="none",
    )
    plan = await metrics.currency_plan(session, definition, None)
    page = await metrics.rollup_page(session, ask, plan)
    return {
        series.group: [
            DatedValue(value.ts.astimezone(zone).date(), value.value)
            for value in series.values
            if value.value is not None
        ]
        for series in page.series
    }


async def daily_values(
    session: AsyncSession, metric: str, *, start: date, end: date, zone: ZoneInfo
) -> list[DatedValue]:
    """The metric's daily values (in its aggregation, days with data only) in ``[start, end)``."""
    definition = await reader.definition(session, metric)
    if definition is None:
        return []
    days = await _buckets(session, definition, start=start, end=end, bucket="day", zone=zone)
    return days.get(None, [])


async def _dimensions(session: AsyncSession, metric: str, today: date, zone: ZoneInfo) -> list[str]:
    """The dimensions of the metric's recent points, most common first."""
    query = MetricQuery(
        metric, start=_midnight(week_start(today) - timedelta(weeks=2), zone), end=_midnight(today, zone)
    )
    points = await reader.observations(session, query, limit=DIMENSION_SAMPLE_POINTS)
    counts = Counter(key for point in points.rows for key in point.dimensions if key not in NOT_DIMENSIONS)
    return [key for key, _ in counts.most_common(MAX_DIMENSIONS)]


async def _weeks_before(
    session: AsyncSession,
    definition: reader.MetricDefinitionInfo,
    week: date,
    weeks: int,
    zone: ZoneInfo,
    group_by: str | None = None,
) -> dict[str | None, list[DatedValue]]:
    """The ``weeks`` whole weeks before the one starting on ``week``."""
    start = week - timedelta(weeks=weeks)
    return await _buckets(
        session, definition, start=start, end=week, bucket="week", zone=zone, group_by=group_by
    )


async def read_history(
    session: AsyncSession, metric: str, today: date, zone: ZoneInfo
) -> MetricHistory | None:
    """What the detectors need of ``metric`` on ``today`` (None: the tenant has no such metric)."""
    definition = await reader.definition(session, metric)
    if definition is None:
        return None
    days = await _buckets(
        session, definition, start=today - timedelta(days=DAY_WINDOW), end=today, bucket="day", zone=zone
    )
    current_week = week_start(today)
    weeks = await _weeks_before(session, definition, current_week, WEEK_WINDOW, zone)
    groups = {}
    for dimension in await _dimensions(session, metric, today, zone):
        found = await _weeks_before(session, definition, current_week, GROUP_WEEK_WINDOW, zone, dimension)
        groups[dimension] = {value: series for value, series in found.items() if value is not None}
    return MetricHistory(
        metric=metric,
        favourable=definition.favourable_direction,
        today=today,
        days=days.get(None, []),
        weeks=weeks.get(None, []),
        week_groups=groups,
    )


async def _goal_findings(session: AsyncSession, pool: ComputePool) -> tuple[list[Finding], dict[str, str]]:
    found, skipped = [], {}
    for goal in await repository.active_goals(session):
        try:
            _, progress = await goals.goal_progress(session, pool, goal.id)
        except DyocenseError as error:
            skipped[f"goal:{goal.id}"] = error.message
            continue
        projection = progress.projection
        at_deadline = projection.at_deadline if projection is not None else None
        state = GoalState(
            goal_id=goal.id,
            title=goal.title,
            metric=goal.metric,
            signal=progress.signal,
            period_start=progress.current_period.start,
            period_end=progress.current_period.end,
            target=goal.target_value,
            deadline=goal.deadline,
            expected_at_deadline=progress.expected_at_deadline,
            lower=at_deadline.lower if at_deadline is not None else None,
            upper=at_deadline.upper if at_deadline is not None else None,
            level=projection.level if projection is not None else None,
            percent_complete=progress.percent_complete,
            explanation=progress.explanation,
        )
        finding = goal_at_risk(state)
        if finding is not None:
            found.append(finding)
    return found, skipped


def _expected_hours(source: DataSource, now: datetime, zone: ZoneInfo) -> float | None:
    if not source.schedule:
        return None
    first = next_run(source.schedule, source.id, after=now, zone=zone)
    second = next_run(source.schedule, source.id, after=first, zone=zone)
    return round((second - first).total_seconds() / 3600, 2)


def _source_health(
    source: DataSource, sync: ConnectorSync | None, now: datetime, zone: ZoneInfo
) -> SourceHealth:
    latest = None
    if sync is not None:
        message = sync.error.get("message") if sync.error else None
        latest = SyncState(sync.id, sync.status, sync.finished_at, str(message) if message else None)
    return SourceHealth(
        source_id=source.id,
        name=source.name,
        expected_every_hours=_expected_hours(source, now, zone),
        last_synced_at=source.last_synced_at,
        since=source.created_at,
        latest_sync=latest,
    )


async def _source_findings(
    session: AsyncSession, now: datetime, today: date, zone: ZoneInfo
) -> list[Finding]:
    found = []
    for source, sync in await repository.active_sources(session):
        found.extend(connector_findings(_source_health(source, sync, now, zone), now, today))
    return found


async def run_engine(
    session: AsyncSession, pool: ComputePool, *, today: date | None = None, now: datetime | None = None
) -> RunSummary:
    """Run every detector for the session's tenant and store what is new (flushes, never commits)."""
    zone = await tenant_zone(session)
    now = now or datetime.now(UTC)
    today = today or local_today(zone, now=now)
    metric_names, scope = await engine_scope(session)
    histories, skipped = [], {}
    for metric in metric_names:
        try:
            history = await read_history(session, metric, today, zone)
        except DyocenseError as error:  # e.g. points in two currencies and no rate: skip, say why
            skipped[metric] = error.message
            continue
        if history is not None:
            histories.append(history)
    findings = await pool.run(detect_many, histories) if histories else []
    goal_findings, goal_skips = await _goal_findings(session, pool)
    findings += goal_findings + await _source_findings(session, now, today, zone)
    findings = await with_actions(session, pool, findings)
    created = await repository.insert_findings(session, findings)
    await session.flush()
    alerts_raised = await alerts.raise_alerts(
        session, created, histories, today=today, read_history=read_history, now=now
    )
    summary = RunSummary(
        today=today,
        scope=scope,
        metrics=metric_names,
        found=len(findings),
        created=len(created),
        by_type=dict(Counter(finding.type for finding in findings)),
        skipped={**skipped, **goal_skips},
        alerts=alerts_raised,
    )
    logger.info("insights_run", metrics=len(metric_names), found=summary.found, created=summary.created)
    return summary
