"""Following metrics and the insight feed: per-user rules (flush, never commit).

Insights belong to the tenant; what is per user is what they follow (the engine's scope) and
their state of each insight: read or not, snoozed until when. A snoozed insight leaves the
user's feed until then; reading it again changes nothing but the time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Insight, InsightState, MetricFollow
from backend.services.errors import Conflict, NotFound
from backend.services.insights import repository
from backend.services.insights.repository import FeedFilter
from backend.services.insights.service import RUN_JOB, InsightRun, RunSummary, engine_scope, run_engine
from backend.services.insights.types import check_snooze
from backend.services.metrics.service import require_definition
from backend.services.workload import Queued, Requester, SizeRule, queue_reason, run_or_queue
from backend.utils.compute import ComputePool
from backend.utils.repository import PageWindow

# Measured by `make bench-insights` (seconds per tenant run, about 0.1 s per metric read and
# judged on two cores): 25 metrics stay within a couple of seconds of a request.
SYNC_MAX_METRICS = 25
RUN_SIZE = SizeRule[int](
    feature="an insight run",
    unit="metrics",
    limit=SYNC_MAX_METRICS,
    size=lambda metrics: metrics,
    why="about 0.1 s of reads and detection per metric (bench_insights): beyond 25, a job",
)


@dataclass(frozen=True)
class FeedItem:
    insight: Insight
    state: InsightState | None


async def follow(session: AsyncSession, user_id: uuid.UUID, metric: str) -> MetricFollow:
    await require_definition(session, metric)  # 404 for a metric the tenant does not have
    created = await repository.add_follow(session, user_id, metric)
    if created is None:
        raise Conflict(f"you already follow {metric!r}", context={"metric": metric})
    return created


async def unfollow(session: AsyncSession, user_id: uuid.UUID, metric: str) -> None:
    if not await repository.delete_follow(session, user_id, metric):
        raise NotFound(f"you do not follow {metric!r}", context={"metric": metric})


list_follows = repository.list_follows


async def feed(
    session: AsyncSession, user_id: uuid.UUID, filters: FeedFilter, window: PageWindow
) -> tuple[list[FeedItem], int]:
    insights, total = await repository.feed(session, user_id, filters, window, datetime.now(UTC))
    found = await repository.states(session, user_id, [insight.id for insight in insights])
    return [FeedItem(insight, found.get(insight.id)) for insight in insights], total


async def _require(session: AsyncSession, insight_id: uuid.UUID) -> Insight:
    insight = await repository.get_insight(session, insight_id)
    if insight is None:
        raise NotFound("Insight not found", context={"insight_id": str(insight_id)})
    return insight


async def get_item(session: AsyncSession, user_id: uuid.UUID, insight_id: uuid.UUID) -> FeedItem:
    insight = await _require(session, insight_id)
    found = await repository.states(session, user_id, [insight_id])
    return FeedItem(insight, found.get(insight_id))


async def mark_read(session: AsyncSession, user_id: uuid.UUID, insight_id: uuid.UUID) -> FeedItem:
    insight = await _require(session, insight_id)
    state = await repository.set_state(session, insight_id, user_id, read_at=datetime.now(UTC))
    return FeedItem(insight, state)


async def snooze(
    session: AsyncSession, user_id: uuid.UUID, insight_id: uuid.UUID, until: datetime
) -> FeedItem:
    check_snooze(until, datetime.now(UTC))
    insight = await _require(session, insight_id)
    state = await repository.set_state(session, insight_id, user_id, snoozed_until=until)
    return FeedItem(insight, state)


async def run_now_or_queue(
    session: AsyncSession, pool: ComputePool, requester: Requester
) -> RunSummary | Queued:
    """Run the engine in the request, or queue it (asked for, or more metrics than ``RUN_SIZE``)."""
    metrics, _ = await engine_scope(session)
    return await run_or_queue(
        session,
        requester,
        reason=queue_reason([RUN_SIZE], len(metrics)),
        run=lambda: run_engine(session, pool),
        kind=RUN_JOB,
        payload=lambda: InsightRun(trigger="manual"),
    )
