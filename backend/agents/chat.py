"""One chat turn: session, memory recall, the coach graph, and the exchange persisted with embeddings.

Runs entirely in the caller's tenant session (RLS): the session row, the history, the
recalled messages and every agent's service call. LLM usage rows are written by the
router in their own units of work, so spend counts even if the turn later fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.agents.citations import Citation
from backend.agents.fact_check import CheckedReplyStream
from backend.agents.graph import COACH_GRAPH, SYSTEM_PROMPT, CoachContext, CoachState, context_message
from backend.agents.runtime import CoachRuntime
from backend.agents.types import AgentDeps, AgentResult, Emit, no_emit
from backend.services.auth.service import Principal
from backend.services.coach import memory, repository
from backend.services.coach.llm_router import RoutedChat
from backend.services.coach.memory import NewMessage
from backend.services.coach.providers.base import ChatMessage
from backend.services.metrics import service as metrics_service
from backend.services.tenant.service import get_current_tenant
from backend.utils.compute import ComputePool
from backend.utils.repository import PageWindow

HISTORY_MESSAGES = 10
RECALL_CANDIDATES = 8
RECALL_LIMIT = 3
TITLE_CHARS = 80
CATALOG_IN_PROMPT = 100


@dataclass(frozen=True)
class Recalled:
    session_id: uuid.UUID
    message_id: uuid.UUID
    role: str
    content: str
    similarity: float
    created_at: datetime


@dataclass
class ChatTurn:
    session_id: uuid.UUID
    reply: str
    agents: list[str]
    results: list[AgentResult]
    usage: dict[str, Any]
    recalled: list[Recalled]
    templated: bool
    classification: str
    notices: list[str] = field(default_factory=list)
    # Figures the offline answer derived itself (changes, goal gaps, last year's season).
    composed_citations: list[Citation] = field(default_factory=list)
    # True when the reply already went out as ``delta`` events while the model wrote it.
    streamed: bool = False

    @property
    def citations(self) -> list[dict[str, Any]]:
        cited = [citation for result in self.results for citation in result.citations]
        return [citation.as_dict() for citation in [*cited, *self.composed_citations]]

    @property
    def suggested_actions(self) -> list[dict[str, Any]]:
        return [action.as_dict() for result in self.results for action in result.suggested_actions]


def usage_summary(calls: list[RoutedChat]) -> dict[str, Any]:
    """Tokens and cost of every model call of the turn; provider and model of the one that answered."""
    if not calls:
        return {
            "provider": "offline",
            "model": "templates",
            "tokens": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost": 0.0,
            "estimated": False,
            "tier": "offline",
            "fallback": False,
            "calls": 0,
            "attempts": [],
        }
    last = calls[-1]
    tokens_in = sum(call.result.usage.tokens_in for call in calls)
    tokens_out = sum(call.result.usage.tokens_out for call in calls)
    return {
        "provider": last.result.provider,
        "model": last.result.model,
        "tokens": tokens_in + tokens_out,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": sum(call.cost_dollars for call in calls),
        "estimated": any(call.result.usage.estimated for call in calls),
        "tier": last.tier.value,
        "fallback": any(call.fell_back for call in calls),
        "calls": len(calls),
        "attempts": [
            {"tier": a.tier.value, "provider": a.provider, "model": a.model, "outcome": a.outcome}
            for call in calls
            for a in call.attempts
        ],
    }


def recall_query(question: str, topic: str | None) -> str:
    """What memory is searched with: the question, within the session's topic when it continues one.

    A session's title is its first question, i.e. its topic. Prefixing it scopes recall to the
    conversation: a follow-up such as "what did we decide last time?" matches nothing on its own
    wording, and recalls what the session is about rather than whatever else it resembles.
    """
    question = question[: memory.MAX_QUERY_CHARS]
    if not topic or question.startswith(topic):
        return question
    joined = topic if topic.rstrip()[-1:] in ".?!" else f"{topic.rstrip()}."
    return f"{joined} {question}"[: memory.MAX_QUERY_CHARS]


async def recall(
    session: AsyncSession,
    runtime: CoachRuntime,
    question: str,
    *,
    exclude: set[uuid.UUID],
    topic: str | None = None,
) -> list[Recalled]:
    """Earlier messages of the tenant closest in meaning to ``question`` in the session's ``topic``,
    at or above the calibrated similarity threshold (``COACH_RECALL_MIN_SIMILARITY``)."""
    found = await memory.search(
        session, runtime.embeddings, recall_query(question, topic), limit=RECALL_CANDIDATES
    )
    recalled = [
        Recalled(
            hit.message.session_id,
            hit.message.id,
            hit.message.role,
            hit.message.content,
            hit.similarity,
            hit.message.created_at,
        )
        for hit in found.hits
        if hit.similarity >= runtime.recall_min_similarity and hit.message.id not in exclude
    ]
    return recalled[:RECALL_LIMIT]


async def chat_turn(
    session: AsyncSession,
    principal: Principal,
    runtime: CoachRuntime,
    pool: ComputePool,
    message: str,
    *,
    session_id: uuid.UUID | None,
    emit: Emit = no_emit,
    stream_reply: bool = False,
) -> ChatTurn:
    """Answer ``message`` in a session (a new one unless ``session_id`` names one of the tenant's).

    With ``stream_reply`` a model's answer goes out through ``emit`` as ``delta`` events while
    it is written (``reset`` when text already sent must be discarded).
    """
    question = message.strip()
    if session_id is not None:
        coaching = await memory.get_session(session, session_id)
    else:
        coaching = await memory.create_session(
            session, user_id=principal.user_id, title=question[:TITLE_CHARS]
        )
    await emit("session", {"session_id": str(coaching.id)})
    earlier = [
        m for m in await repository.session_messages(session, coaching.id) if m.role in ("user", "assistant")
    ][-HISTORY_MESSAGES:]
    recalled = await recall(
        session,
        runtime,
        question,
        exclude={m.id for m in earlier},
        topic=coaching.title if session_id is not None else None,
    )
    await emit("memory", {"recalled": len(recalled)})
    tenant = await get_current_tenant(session)
    catalog, _ = await metrics_service.list_catalog(session, PageWindow(CATALOG_IN_PROMPT))
    messages = [
        ChatMessage("system", SYSTEM_PROMPT),
        context_message(
            "The tenant's metrics",
            [{"name": e.name, "unit": e.unit, "aggregation": e.aggregation} for e in catalog],
        ),
    ]
    if recalled:
        messages.append(
            context_message(
                "Relevant earlier exchanges",
                [
                    {"role": r.role, "said": r.content, "on": r.created_at.date().isoformat()}
                    for r in recalled
                ],
            )
        )
    messages += [ChatMessage("user" if m.role == "user" else "assistant", m.content) for m in earlier]
    messages.append(ChatMessage("user", question))
    deps = AgentDeps(
        session=session,
        principal=principal,
        pool=pool,
        today=datetime.now(UTC).astimezone(ZoneInfo(tenant.timezone)).date(),
        timezone=tenant.timezone,
        emit=emit,
    )
    initial: CoachState = {
        "question": question,
        "messages": messages,
        "results": [],
        "calls": [],
        "notices": [],
    }
    stream = CheckedReplyStream(emit) if stream_reply else None
    state = await COACH_GRAPH.ainvoke(
        initial,
        context=CoachContext(
            deps=deps, router=runtime.router, classifier_embedder=runtime.embeddings.local, stream=stream
        ),
    )
    results: list[AgentResult] = state.get("results", [])
    calls: list[RoutedChat] = state.get("calls", [])
    notices = [*dict.fromkeys(n for call in calls for n in call.notices), *state.get("notices", [])]
    turn = ChatTurn(
        session_id=coaching.id,
        reply=state["reply"],
        agents=list(dict.fromkeys(result.agent for result in results)),
        results=results,
        usage=usage_summary(calls),
        recalled=recalled,
        templated=bool(state.get("templated")),
        classification=state.get("method", ""),
        notices=notices,
        composed_citations=state.get("composed_citations", []),
        streamed=stream is not None and stream.active,
    )
    await _persist(session, runtime, turn, question)
    return turn


async def _persist(session: AsyncSession, runtime: CoachRuntime, turn: ChatTurn, question: str) -> None:
    """The exchange: the question, each tool result (kept as data, not embedded) and the answer."""
    rows = [NewMessage("user", question)]
    rows += [
        NewMessage("tool", result.tool_message_content(), {"agent": result.agent, "status": result.status})
        for result in turn.results
    ]
    rows.append(
        NewMessage(
            "assistant",
            turn.reply,
            {
                "agents": turn.agents,
                "citations": turn.citations,
                "suggested_actions": turn.suggested_actions,
                "usage": turn.usage,
                "templated": turn.templated,
                "notices": turn.notices,
                "recalled": [str(r.message_id) for r in turn.recalled],
            },
        )
    )
    await memory.store_messages(session, runtime.embeddings, turn.session_id, rows)
