"""The coach: chat, LLM usage report, sessions and semantic search (the streamed chat: coach_stream)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from backend.agents.chat import ChatTurn, chat_turn
from backend.agents.runtime import CoachRuntime
from backend.dependencies import (
    AppComputePool,
    AppSettings,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
from backend.routes import examples
from backend.schemas.coach import (
    BudgetRead,
    ChatRequest,
    ChatResponse,
    CoachMessageRead,
    CoachSearchHit,
    CoachSearchResults,
    CoachSessionDetail,
    CoachSessionRead,
    UsageDayRead,
    UsageProviderRead,
    UsageReportRead,
)
from backend.schemas.common import Page, SupportedDate
from backend.services.coach import memory
from backend.services.coach.repository import SessionSummary
from backend.services.coach.usage import usage_report
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(prefix="/api/v1/coach", tags=["coach"], responses=error_responses(401, 422))


async def get_coach(request: Request) -> CoachRuntime:
    coach: CoachRuntime = request.app.state.coach
    return coach


Coach = Annotated[CoachRuntime, Depends(get_coach)]


def _session_read(summary: SessionSummary) -> CoachSessionRead:
    return CoachSessionRead.from_row(summary.session, summary)


@router.get("/usage", summary="LLM spend by day and provider, and this month's budget")
async def get_coach_usage(
    session: TenantSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    start: Annotated[
        SupportedDate | None, Query(description="First day (tenant time zone); default: 1st of the month.")
    ] = None,
    end: Annotated[SupportedDate | None, Query(description="Last day, inclusive; default: today.")] = None,
) -> UsageReportRead:
    """What the coach's LLM calls cost between `start` and `end` (tenant time zone; default this month so
    far): requests, tokens and dollars per day and provider, totals, and the month's budget with what
    remains, whether cloud models may still be used and the share answered locally. Any role."""
    report = await usage_report(session, settings.llm, start=start, end=end, now=datetime.now(UTC))
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for bucket in report.days:
        total = totals[bucket.provider]
        total["requests"] += bucket.requests
        total["failed_requests"] += bucket.failed_requests
        total["tokens_in"] += bucket.tokens_in
        total["tokens_out"] += bucket.tokens_out
        total["cost_dollars"] += bucket.cost_dollars
    policy = report.policy
    return UsageReportRead(
        start=report.start,
        end=report.end,
        timezone=report.timezone,
        total_requests=sum(bucket.requests for bucket in report.days),
        total_cost_dollars=sum(bucket.cost_dollars for bucket in report.days),
        days=[UsageDayRead.model_validate(bucket, from_attributes=True) for bucket in report.days],
        providers=[
            UsageProviderRead(
                provider=provider,
                requests=int(total["requests"]),
                failed_requests=int(total["failed_requests"]),
                tokens_in=int(total["tokens_in"]),
                tokens_out=int(total["tokens_out"]),
                cost_dollars=total["cost_dollars"],
            )
            for provider, total in sorted(totals.items())
        ],
        budget=BudgetRead(
            monthly_budget_dollars=policy.monthly_budget_dollars,
            month_spend_dollars=policy.month_spend_dollars,
            remaining_dollars=max(policy.monthly_budget_dollars - policy.month_spend_dollars, 0.0),
            over_budget=policy.over_budget,
            cloud_allowed=policy.cloud_allowed,
            local_share_this_month=policy.local_share,
            target_local_share=settings.llm.target_local_share,
        ),
    )


@router.get("/sessions", summary="Coaching sessions of the tenant, most recently active first")
async def list_coach_sessions(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    mine: Annotated[bool, Query(description="Only sessions the caller started.")] = False,
) -> Page[CoachSessionRead]:
    """The tenant's coaching sessions, most recently active first, with title, author, message count and
    last message time; `mine=true` for only the caller's."""
    summaries, total = await memory.list_sessions(
        session, window=page, user_id=principal.user_id if mine else None
    )
    return Page.of([_session_read(s) for s in summaries], total, page)


@router.get(
    "/sessions/{session_id}",
    summary="A coaching session with its messages",
    responses=error_responses(404),
)
async def get_coach_session(
    session_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> CoachSessionDetail:
    """A coaching session with its messages in order (the questions, answers and the citations kept with
    them). 404 for an id that is not the tenant's."""
    found, messages = await memory.get_session_with_messages(session, session_id)
    summary = SessionSummary(found, len(messages), messages[-1].created_at if messages else None)
    return CoachSessionDetail(
        **_session_read(summary).model_dump(),
        messages=[CoachMessageRead.model_validate(message) for message in messages],
    )


@router.delete(
    "/sessions/{session_id}",
    **NO_CONTENT,
    summary="Delete a coaching session and its messages (its author or an admin)",
    responses=error_responses(403, 404),
)
async def delete_coach_session(
    session_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> None:
    """Removes the session and its messages, so the coach no longer recalls them. Its author may, and any
    admin; 403 for anyone else, 404 for an unknown id."""
    await memory.delete_session(session, principal, session_id)


@router.get(
    "/search",
    summary="Semantic search over the tenant's coaching history",
    responses=error_responses(503),
)
async def search_coach_history(
    session: TenantSession,
    principal: CurrentPrincipal,
    coach: Coach,
    q: Annotated[
        str, Query(min_length=1, max_length=memory.MAX_QUERY_CHARS, description="What to look for.")
    ],
    limit: Annotated[int, Query(ge=1, le=memory.MAX_SEARCH_RESULTS)] = 10,
) -> CoachSearchResults:
    """Finds past coaching messages closest in meaning to `q` (embeddings with pgvector), best first, with
    their similarity. 503 while the embedding model is unavailable."""
    result = await memory.search(session, coach.embeddings, q, limit=limit)
    return CoachSearchResults(
        query=q,
        embedding_model=result.embedding_model,
        items=[
            CoachSearchHit(
                session_id=hit.message.session_id,
                message_id=hit.message.id,
                role=hit.message.role,
                content=hit.message.content,
                similarity=hit.similarity,
                created_at=hit.message.created_at,
            )
            for hit in result.hits
        ],
    )


def chat_response(turn: ChatTurn) -> ChatResponse:
    """The JSON answer of a turn (also the stream's `final` event)."""
    return ChatResponse.model_validate(
        {
            "session_id": turn.session_id,
            "reply": turn.reply,
            "agents": turn.agents,
            "citations": turn.citations,
            "suggested_actions": turn.suggested_actions,
            "usage": turn.usage,
            "recalled": [recalled.__dict__ for recalled in turn.recalled],
            "notices": turn.notices,
            "templated": turn.templated,
            "classification": turn.classification,
        }
    )


@router.post(
    "/chat",
    summary="Ask the coach; the answer cites every number it uses",
    responses=error_responses(404, 503),
)
async def chat_with_coach(
    body: Annotated[ChatRequest, Body(openapi_examples=examples.CHAT)],
    session: TenantSession,
    principal: CurrentPrincipal,
    coach: Coach,
    pool: AppComputePool,
) -> ChatResponse:
    """Classifies the question, runs the agents it needs (goal planner, evidence analyzer, forecaster,
    optimizer) on the tenant's data, and answers with citations, suggested actions and the LLM usage
    of the turn. The exchange is stored in the session (a new one unless `session_id` is given)."""
    turn = await chat_turn(session, principal, coach, pool, body.message, session_id=body.session_id)
    return chat_response(turn)
