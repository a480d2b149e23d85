"""The coach: chat (JSON and Server-Sent Events), LLM usage report, sessions and semantic search."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from backend.agents.chat import ChatTurn, chat_turn
from backend.agents.runtime import CoachRuntime
from backend.dependencies import (
    AppComputePool,
    AppDatabase,
    AppSettings,
    CurrentPrincipal,
    PageParams,
    TenantSession,
)
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
from backend.services.auth.service import Principal
from backend.services.coach import memory
from backend.services.coach.repository import SessionSummary
from backend.services.coach.usage import usage_report
from backend.services.errors import DyocenseError
from backend.utils.compute import ComputePool
from backend.utils.database import Database
from backend.utils.error_handlers import error_responses

logger = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/coach", tags=["coach"], responses=error_responses(401))


async def get_coach(request: Request) -> CoachRuntime:
    coach: CoachRuntime = request.app.state.coach
    return coach


Coach = Annotated[CoachRuntime, Depends(get_coach)]


def _session_read(summary: SessionSummary) -> CoachSessionRead:
    return CoachSessionRead.from_row(summary.session, summary)


@router.get(
    "/usage",
    summary="LLM spend by day and provider, and this month's budget",
    responses=error_responses(422),
)
async def get_coach_usage(
    session: TenantSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    start: Annotated[
        SupportedDate | None, Query(description="First day (tenant time zone); default: 1st of the month.")
    ] = None,
    end: Annotated[SupportedDate | None, Query(description="Last day, inclusive; default: today.")] = None,
) -> UsageReportRead:
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
        days=[
            UsageDayRead(
                day=bucket.day,
                provider=bucket.provider,
                requests=bucket.requests,
                failed_requests=bucket.failed_requests,
                tokens_in=bucket.tokens_in,
                tokens_out=bucket.tokens_out,
                estimated_requests=bucket.estimated_requests,
                cost_dollars=bucket.cost_dollars,
            )
            for bucket in report.days
        ],
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


@router.get(
    "/sessions",
    summary="Coaching sessions of the tenant, most recently active first",
    responses=error_responses(422),
)
async def list_coach_sessions(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    mine: Annotated[bool, Query(description="Only sessions the caller started.")] = False,
) -> Page[CoachSessionRead]:
    summaries, total = await memory.list_sessions(
        session, window=page, user_id=principal.user_id if mine else None
    )
    return Page.of([_session_read(s) for s in summaries], total, page)


@router.get(
    "/sessions/{session_id}",
    summary="A coaching session with its messages",
    responses=error_responses(404, 422),
)
async def get_coach_session(
    session_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> CoachSessionDetail:
    found, messages = await memory.get_session_with_messages(session, session_id)
    summary = SessionSummary(found, len(messages), messages[-1].created_at if messages else None)
    return CoachSessionDetail(
        **_session_read(summary).model_dump(),
        messages=[CoachMessageRead.model_validate(message) for message in messages],
    )


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a coaching session and its messages (its author or an admin)",
    responses=error_responses(403, 404, 422),
)
async def delete_coach_session(
    session_id: uuid.UUID, session: TenantSession, principal: CurrentPrincipal
) -> Response:
    await memory.delete_session(session, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/search",
    summary="Semantic search over the tenant's coaching history",
    responses=error_responses(422, 503),
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


def _chat_response(turn: ChatTurn) -> ChatResponse:
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
    responses=error_responses(404, 422, 503),
)
async def chat_with_coach(
    body: ChatRequest,
    session: TenantSession,
    principal: CurrentPrincipal,
    coach: Coach,
    pool: AppComputePool,
) -> ChatResponse:
    """Classifies the question, runs the agents it needs (goal planner, evidence analyzer, forecaster,
    optimizer) on the tenant's data, and answers with citations, suggested actions and the LLM usage
    of the turn. The exchange is stored in the session (a new one unless `session_id` is given)."""
    turn = await chat_turn(session, principal, coach, pool, body.message, session_id=body.session_id)
    return _chat_response(turn)


_DELTA = re.compile(r"\S+\s*|\s+")


def _sse(event: str, payload: dict[str, object]) -> str:
    return f"event: {event}\ndata: {json.dumps(payload, default=str)}\n\n"


@router.post(
    "/chat/stream",
    response_class=StreamingResponse,
    summary="Ask the coach, streamed as Server-Sent Events",
    responses={
        200: {
            "description": "Events: `session`, `memory`, `classification`, `agent`, `tool` (progress), "
            "`delta` (the reply as the model writes it, one sentence at a time, each sent only once "
            "every figure in it is backed by a tool result; a templated reply piece by piece), `reset` "
            "(discard the deltas so far: the model failed mid-answer and another one answers, or its "
            "answer used figures no tool returned and is being rewritten), then `final` (the full chat "
            "response) or `error`.",
            "content": {"text/event-stream": {}},
        },
        **error_responses(404, 422),
    },
)
async def chat_with_coach_stream(
    body: ChatRequest,
    session: TenantSession,
    principal: CurrentPrincipal,
    database: AppDatabase,
    coach: Coach,
    pool: AppComputePool,
) -> StreamingResponse:
    """The chat turn as it happens. The request's own transaction ends before the body streams, so the
    turn runs in its own tenant unit of work, committed before the `final` event is sent."""
    if body.session_id is not None:
        await memory.get_session(session, body.session_id)  # a 404 before the stream starts
    return StreamingResponse(
        _chat_events(body, principal, database, coach, pool),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _chat_events(
    body: ChatRequest, principal: Principal, database: Database, coach: CoachRuntime, pool: ComputePool
) -> AsyncIterator[str]:
    queue: asyncio.Queue[tuple[str, dict[str, object]] | None] = asyncio.Queue()

    async def emit(event: str, payload: dict[str, object]) -> None:
        await queue.put((event, payload))

    async def produce() -> ChatTurn:
        try:
            async with database.tenant_session(principal.tenant_id) as session:
                return await chat_turn(
                    session,
                    principal,
                    coach,
                    pool,
                    body.message,
                    session_id=body.session_id,
                    emit=emit,
                    stream_reply=True,
                )
        finally:
            await queue.put(None)

    task = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not None:
            yield _sse(*item)
        turn = await task
        if not turn.streamed:
            # Templated (offline) replies are not written by a model: piece them out here.
            for piece in _DELTA.findall(turn.reply):
                yield _sse("delta", {"text": piece})
        yield _sse("final", _chat_response(turn).model_dump(mode="json"))
    except DyocenseError as error:
        yield _sse("error", {"code": error.code, "message": error.message, "details": error.details})
    except Exception:
        logger.exception("coach_stream_failed")
        yield _sse("error", {"code": "internal_error", "message": "The coach could not finish this answer."})
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
