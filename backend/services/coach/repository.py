"""Every query of the coach: tenant LLM preferences, usage rows and aggregates, sessions and messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, cast, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import CoachingMessage, CoachingSession, LlmUsage, Tenant
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, tenant_filter, tenant_select, where_given

LOCAL_PROVIDERS = ("ollama", "offline")
EMBEDDING_MODEL_KEY = "embedding_model"


@dataclass(frozen=True)
class TenantLlmRow:
    settings: dict[str, Any]
    timezone: str


@dataclass(frozen=True)
class PeriodUsage:
    spend_dollars: float
    local_calls: int
    total_calls: int


@dataclass(frozen=True)
class UsageBucket:
    day: Any
    provider: str
    requests: int
    failed_requests: int
    tokens_in: int
    tokens_out: int
    estimated_requests: int
    cost_dollars: float


@dataclass(frozen=True)
class SessionSummary:
    session: CoachingSession
    message_count: int
    last_message_at: datetime | None


@dataclass(frozen=True)
class MessageHit:
    message: CoachingMessage
    similarity: float


# --------------------------------------------------------------------------- tenant and usage
async def tenant_llm_row(session: AsyncSession) -> TenantLlmRow:
    row = (
        await session.execute(
            select(Tenant.settings, Tenant.timezone).where(Tenant.id == session_tenant(session))
        )
    ).one()
    return TenantLlmRow(settings=dict(row.settings or {}), timezone=row.timezone)


async def usage_since(session: AsyncSession, since: datetime) -> PeriodUsage:
    """Spend and successful calls (local vs all) of the tenant since ``since``."""
    success = LlmUsage.outcome == "success"
    statement = select(
        func.coalesce(func.sum(LlmUsage.cost_dollars), 0.0),
        func.count().filter(success, LlmUsage.provider.in_(LOCAL_PROVIDERS)),
        func.count().filter(success),
    ).where(LlmUsage.tenant_id == session_tenant(session), LlmUsage.created_at >= since)
    spend, local_calls, total_calls = (await session.execute(statement)).one()
    return PeriodUsage(float(spend), int(local_calls), int(total_calls))


async def add_usage(
    session: AsyncSession,
    *,
    provider: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    tokens_estimated: bool,
    cost_dollars: float,
    latency_ms: int,
    outcome: str,
) -> None:
    session.add(
        LlmUsage(
            tenant_id=session_tenant(session),
            provider=provider,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            tokens_estimated=tokens_estimated,
            cost_dollars=cost_dollars,
            latency_ms=latency_ms,
            outcome=outcome,
        )
    )
    await session.flush()


async def usage_by_day(
    session: AsyncSession, *, start: datetime, end: datetime, timezone: str
) -> list[UsageBucket]:
    """Calls, tokens and cost per calendar day (in the tenant's time zone) and provider, in [start, end)."""
    day = func.date(func.timezone(timezone, LlmUsage.created_at)).label("day")
    statement = (
        select(
            day,
            LlmUsage.provider,
            func.count().label("requests"),
            func.count().filter(LlmUsage.outcome != "success").label("failed"),
            func.coalesce(func.sum(LlmUsage.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(LlmUsage.tokens_out), 0).label("tokens_out"),
            func.count().filter(LlmUsage.tokens_estimated.is_(True)).label("estimated"),
            cast(func.coalesce(func.sum(LlmUsage.cost_dollars), 0.0), Float).label("cost"),
        )
        .where(
            LlmUsage.tenant_id == session_tenant(session),
            LlmUsage.created_at >= start,
            LlmUsage.created_at < end,
        )
        .group_by(day, LlmUsage.provider)
        .order_by(day, LlmUsage.provider)
    )
    return [
        UsageBucket(
            day=row.day,
            provider=row.provider,
            requests=int(row.requests),
            failed_requests=int(row.failed),
            tokens_in=int(row.tokens_in),
            tokens_out=int(row.tokens_out),
            estimated_requests=int(row.estimated),
            cost_dollars=float(row.cost),
        )
        for row in await session.execute(statement)
    ]


# --------------------------------------------------------------------------- sessions and messages
async def add_session(
    session: AsyncSession, *, user_id: uuid.UUID | None, title: str | None
) -> CoachingSession:
    row = CoachingSession(tenant_id=session_tenant(session), user_id=user_id, title=title)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def get_session(session: AsyncSession, session_id: uuid.UUID) -> CoachingSession | None:
    return await session.get(CoachingSession, (session_tenant(session), session_id))


async def list_sessions(
    session: AsyncSession, window: PageWindow, *, user_id: uuid.UUID | None = None
) -> tuple[list[SessionSummary], int]:
    base = where_given(tenant_select(session, CoachingSession), (CoachingSession.user_id, user_id))
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    stats = (
        select(
            CoachingMessage.session_id,
            func.count().label("messages"),
            func.max(CoachingMessage.created_at).label("last_at"),
        )
        .where(tenant_filter(session, CoachingMessage))
        .group_by(CoachingMessage.session_id)
        .subquery()
    )
    last_activity = func.coalesce(stats.c.last_at, CoachingSession.created_at)
    statement = (
        base.add_columns(func.coalesce(stats.c.messages, 0), stats.c.last_at)
        .outerjoin(stats, stats.c.session_id == CoachingSession.id)
        .order_by(last_activity.desc(), CoachingSession.id)
        .limit(window.limit)
        .offset(window.offset)
    )
    rows = await session.execute(statement)
    return [SessionSummary(row[0], int(row[1]), row[2]) for row in rows], int(total or 0)


async def session_messages(session: AsyncSession, session_id: uuid.UUID) -> list[CoachingMessage]:
    statement = (
        select(CoachingMessage)
        .where(CoachingMessage.tenant_id == session_tenant(session), CoachingMessage.session_id == session_id)
        .order_by(CoachingMessage.created_at, CoachingMessage.id)
    )
    return list(await session.scalars(statement))


async def delete_session(session: AsyncSession, session_id: uuid.UUID) -> int:
    """Delete a session; its messages go with it (ON DELETE CASCADE)."""
    result = await session.execute(
        delete(CoachingSession).where(
            CoachingSession.tenant_id == session_tenant(session), CoachingSession.id == session_id
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def add_messages(session: AsyncSession, messages: Sequence[CoachingMessage]) -> None:
    session.add_all(messages)
    await session.flush()


async def nearest_messages(
    session: AsyncSession, query: Sequence[float], *, embedding_model: str, limit: int
) -> list[MessageHit]:
    """The tenant's messages nearest to ``query`` (cosine distance), embedded by the same model."""
    # The tenant filter (and RLS) apply after the HNSW scan; iterative scans (pgvector ≥ 0.8) keep
    # scanning until enough rows pass the filter, so a small tenant still gets its ``limit`` hits.
    await session.execute(text("select set_config('hnsw.iterative_scan', 'relaxed_order', true)"))
    distance = CoachingMessage.embedding.cosine_distance(list(query))
    statement = (
        select(CoachingMessage, distance.label("distance"))
        .where(
            CoachingMessage.tenant_id == session_tenant(session),
            CoachingMessage.embedding.is_not(None),
            CoachingMessage.details[EMBEDDING_MODEL_KEY].astext == embedding_model,
        )
        .order_by(distance)
        .limit(limit)
    )
    rows = await session.execute(statement)
    # relaxed_order can return near-ties slightly out of order; the final order is exact.
    hits = [MessageHit(row[0], 1.0 - float(row[1])) for row in rows]
    return sorted(hits, key=lambda hit: hit.similarity, reverse=True)
