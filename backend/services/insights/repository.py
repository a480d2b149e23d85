"""Queries of the insights feature: follows, insights (insert-once), per-user state, health inputs.

Metric *points* are never read here: the service reads them through the metric read path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import (
    ConnectorSync,
    DataSource,
    DigestSubscription,
    GoalStatus,
    Insight,
    InsightState,
    MetricDefinition,
    MetricFollow,
    SmartGoal,
)
from backend.services.insights.types import Finding
from backend.utils.database import session_tenant
from backend.utils.repository import (
    PageWindow,
    get_by_id,
    paginate,
    tenant_filter,
    tenant_one,
    tenant_select,
    where_given,
)

# ---------------------------------------------------------------- follows


async def get_follow(session: AsyncSession, user_id: uuid.UUID, metric: str) -> MetricFollow | None:
    statement = tenant_select(session, MetricFollow).where(
        MetricFollow.user_id == user_id, MetricFollow.metric == metric
    )
    return await session.scalar(statement)


async def add_follow(session: AsyncSession, user_id: uuid.UUID, metric: str) -> MetricFollow | None:
    """The new follow, or None when the user already follows the metric (two requests at once
    insert one row: the unique key decides)."""
    statement = (
        insert(MetricFollow)
        .values(tenant_id=session_tenant(session), id=uuid.uuid4(), user_id=user_id, metric=metric)
        .on_conflict_do_nothing(index_elements=["tenant_id", "user_id", "metric"])
        .returning(MetricFollow.id)
    )
    follow_id = await session.scalar(statement)
    return None if follow_id is None else await get_by_id(session, MetricFollow, follow_id)


async def delete_follow(session: AsyncSession, user_id: uuid.UUID, metric: str) -> int:
    result = await session.execute(
        delete(MetricFollow).where(
            tenant_filter(session, MetricFollow),
            MetricFollow.user_id == user_id,
            MetricFollow.metric == metric,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def list_follows(
    session: AsyncSession, user_id: uuid.UUID, window: PageWindow
) -> tuple[list[MetricFollow], int]:
    statement = tenant_select(session, MetricFollow).where(MetricFollow.user_id == user_id)
    return await paginate(session, statement, order_by=(MetricFollow.metric,), window=window)


async def followed_metrics(session: AsyncSession) -> list[str]:
    """Every metric some user of the tenant follows."""
    statement = select(MetricFollow.metric).where(tenant_filter(session, MetricFollow)).distinct()
    return sorted(await session.scalars(statement))


async def metrics_with_direction(session: AsyncSession) -> list[str]:
    """The tenant's metrics whose definition states a favourable direction (the engine's default scope)."""
    statement = (
        select(MetricDefinition.name)
        .where(tenant_filter(session, MetricDefinition), MetricDefinition.favourable_direction.is_not(None))
        .order_by(MetricDefinition.name)
    )
    return list(await session.scalars(statement))


# ---------------------------------------------------------------- insights


async def insert_findings(session: AsyncSession, findings: Sequence[Finding]) -> list[uuid.UUID]:
    """Store each finding unless its idempotency key is already there; the ids of the new ones.

    ``ON CONFLICT DO NOTHING`` on the tenant's unique key: two runs at once store one row.
    """
    if not findings:
        return []
    tenant_id = session_tenant(session)
    rows = [
        {
            "tenant_id": tenant_id,
            "id": uuid.uuid4(),
            "metric": finding.metric,
            "type": finding.type,
            "severity": finding.severity,
            "period_start": finding.period_start,
            "period_end": finding.period_end,
            "sentence": finding.sentence,
            "numbers": finding.numbers.model_dump(mode="json", exclude_none=True),
            "links": finding.links.model_dump(mode="json", exclude_none=True),
            "suggested_action": (
                finding.suggested_action.model_dump(mode="json") if finding.suggested_action else None
            ),
            "idempotency_key": finding.idempotency_key,
        }
        for finding in findings
    ]
    statement = (
        insert(Insight)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(Insight.id)
    )
    return list(await session.scalars(statement))


@dataclass(frozen=True)
class FeedFilter:
    type: str | None = None
    metric: str | None = None
    unread: bool | None = None  # True: unread only; False: read only
    followed: bool = False  # only metrics the user follows, and connector health (no metric)
    include_snoozed: bool = False
    since: datetime | None = None  # found at or after this time


def _state_join(session: AsyncSession, user_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(
        tenant_filter(session, InsightState),
        InsightState.insight_id == Insight.id,
        InsightState.user_id == user_id,
    )


async def feed(
    session: AsyncSession, user_id: uuid.UUID, filters: FeedFilter, window: PageWindow, now: datetime
) -> tuple[list[Insight], int]:
    """The tenant's insights as ``user_id`` sees them, newest first."""
    statement = where_given(
        tenant_select(session, Insight).outerjoin(InsightState, _state_join(session, user_id)),
        (Insight.type, filters.type),
        (Insight.metric, filters.metric),
    )
    if filters.unread is True:
        statement = statement.where(InsightState.read_at.is_(None))
    elif filters.unread is False:
        statement = statement.where(InsightState.read_at.is_not(None))
    if filters.followed:
        mine = select(MetricFollow.metric).where(
            tenant_filter(session, MetricFollow), MetricFollow.user_id == user_id
        )
        statement = statement.where(or_(Insight.metric.in_(mine), Insight.metric.is_(None)))
    if filters.since is not None:
        statement = statement.where(Insight.created_at >= filters.since)
    if not filters.include_snoozed:
        statement = statement.where(
            or_(InsightState.snoozed_until.is_(None), InsightState.snoozed_until <= now)
        )
    order = (Insight.created_at.desc(), Insight.period_start.desc(), Insight.id)
    return await paginate(session, statement, order_by=order, window=window)


async def get_insight(session: AsyncSession, insight_id: uuid.UUID) -> Insight | None:
    return await get_by_id(session, Insight, insight_id)


async def states(
    session: AsyncSession, user_id: uuid.UUID, insight_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, InsightState]:
    if not insight_ids:
        return {}
    statement = tenant_select(session, InsightState).where(
        InsightState.user_id == user_id, InsightState.insight_id.in_(insight_ids)
    )
    return {state.insight_id: state for state in await session.scalars(statement)}


async def set_state(
    session: AsyncSession,
    insight_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    read_at: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> InsightState:
    """Record ``read_at`` and/or ``snoozed_until`` (those given) for the user; returns the state."""
    changes = {
        name: value for name, value in (("read_at", read_at), ("snoozed_until", snoozed_until)) if value
    }
    statement = (
        insert(InsightState)
        .values(tenant_id=session_tenant(session), insight_id=insight_id, user_id=user_id, **changes)
        .on_conflict_do_update(index_elements=["tenant_id", "insight_id", "user_id"], set_=changes)
        .returning(InsightState)
        .execution_options(populate_existing=True)
    )
    state = await session.scalar(statement)
    assert state is not None
    return state


# ---------------------------------------------------------------- what the health rules read


async def active_goals(session: AsyncSession) -> list[SmartGoal]:
    statement = tenant_select(session, SmartGoal).where(SmartGoal.status == GoalStatus.ACTIVE)
    return list(await session.scalars(statement.order_by(SmartGoal.deadline, SmartGoal.id)))


FINISHED_SYNCS = ("succeeded", "failed")


async def active_sources(session: AsyncSession) -> list[tuple[DataSource, ConnectorSync | None]]:
    """Each active data source with its latest finished sync (if any): a retry waiting in the
    queue does not hide that the last attempt failed."""
    sources = list(
        await session.scalars(
            tenant_select(session, DataSource).where(DataSource.status == "active").order_by(DataSource.name)
        )
    )
    if not sources:
        return []
    latest = (
        select(ConnectorSync)
        .where(
            tenant_filter(session, ConnectorSync),
            ConnectorSync.data_source_id.in_([s.id for s in sources]),
            ConnectorSync.status.in_(FINISHED_SYNCS),
        )
        .ext(distinct_on(ConnectorSync.data_source_id))
        .order_by(ConnectorSync.data_source_id, ConnectorSync.created_at.desc(), ConnectorSync.id)
    )
    by_source = {sync.data_source_id: sync for sync in await session.scalars(latest)}
    return [(source, by_source.get(source.id)) for source in sources]


# ---------------------------------------------------------------- digests


async def get_subscription(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> DigestSubscription | None:
    """The user's digest choice; ``lock``: hold its row until the transaction ends (the sender)."""
    return await tenant_one(session, DigestSubscription, DigestSubscription.user_id == user_id, lock=lock)


async def set_subscription(session: AsyncSession, user_id: uuid.UUID, frequency: str) -> DigestSubscription:
    found = await get_subscription(session, user_id)
    if found is None:
        found = DigestSubscription(tenant_id=session_tenant(session), user_id=user_id, frequency=frequency)
        session.add(found)
    else:
        found.frequency = frequency
    await session.flush()
    return found


async def due_subscriptions(session: AsyncSession, today: date) -> list[DigestSubscription]:
    """Digests due on ``today``: daily ones, weekly ones on Mondays; not sent that day yet."""
    frequencies = ["daily", "weekly"] if today.weekday() == 0 else ["daily"]
    statement = (
        tenant_select(session, DigestSubscription)
        .where(
            DigestSubscription.frequency.in_(frequencies),
            or_(DigestSubscription.last_sent_on.is_(None), DigestSubscription.last_sent_on < today),
        )
        .order_by(DigestSubscription.user_id)
    )
    return list(await session.scalars(statement))
