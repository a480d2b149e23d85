"""Coach responses: LLM usage and budget, coaching sessions and messages, semantic search hits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from backend.schemas.common import ReadModel


class UsageDayRead(BaseModel):
    day: date = Field(description="Calendar day in the tenant's time zone.")
    provider: str = Field(examples=["ollama"], description="ollama, openai or offline.")
    requests: int = Field(description="LLM calls, failed ones included.")
    failed_requests: int = Field(description="Calls that errored or timed out (they cost nothing).")
    tokens_in: int
    tokens_out: int
    estimated_requests: int = Field(
        description="Calls whose tokens were estimated (the provider reported none)."
    )
    cost_dollars: float


class UsageProviderRead(BaseModel):
    provider: str
    requests: int
    failed_requests: int
    tokens_in: int
    tokens_out: int
    cost_dollars: float


class BudgetRead(BaseModel):
    monthly_budget_dollars: float = Field(description="Cloud LLM budget for the current calendar month.")
    month_spend_dollars: float
    remaining_dollars: float
    over_budget: bool = Field(description="True: only local models answer until next month.")
    cloud_allowed: bool = Field(description="False when the tenant disabled cloud LLMs.")
    local_share_this_month: float | None = Field(
        description="Successful calls answered locally (None: no calls)."
    )
    target_local_share: float


class UsageReportRead(BaseModel):
    start: date
    end: date
    timezone: str
    total_requests: int
    total_cost_dollars: float
    days: list[UsageDayRead] = Field(description="One entry per day and provider with calls.")
    providers: list[UsageProviderRead] = Field(description="Totals per provider over the range.")
    budget: BudgetRead


class CoachSessionRead(ReadModel):
    id: uuid.UUID
    title: str | None
    user_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    message_count: int
    last_message_at: datetime | None


class CoachMessageRead(ReadModel):
    id: uuid.UUID
    role: str
    content: str
    details: dict[str, Any]
    created_at: datetime


class CoachSessionDetail(CoachSessionRead):
    messages: list[CoachMessageRead]


class CoachSearchHit(BaseModel):
    session_id: uuid.UUID
    message_id: uuid.UUID
    role: str
    content: str
    similarity: float = Field(description="Cosine similarity to the query (1 = same meaning).")
    created_at: datetime


class CoachSearchResults(BaseModel):
    query: str
    embedding_model: str = Field(description="The embedder that compared the texts (provider:model).")
    items: list[CoachSearchHit]


# --------------------------------------------------------------------------- chat
class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000, examples=["Grow revenue 20% this year"])
    session_id: uuid.UUID | None = Field(default=None, description="Continue a session; omit to start one.")


class CitationRead(BaseModel):
    metric: str | None = Field(description="The metric the number is about (None: not a metric value).")
    period: str | None = Field(description="The time range (ISO dates) the number covers.")
    method: str = Field(description="How the number was computed.")
    value: float = Field(description="The unrounded number.")
    display: str = Field(description="The number exactly as the reply shows it.")
    source: str = Field(description="The agent (tool) that produced it.")
    unit: str | None = None


class SuggestedActionRead(BaseModel):
    label: str
    method: str = Field(examples=["POST"])
    path: str = Field(examples=["/api/v1/goals"])
    body: dict[str, Any] | None = Field(description="The request body to send to accept the suggestion.")


class LlmAttemptRead(BaseModel):
    tier: str = Field(description="local, cloud or offline.")
    provider: str
    model: str
    outcome: str = Field(description="success, error, timeout or skipped (circuit open).")


class ChatUsageRead(BaseModel):
    provider: str = Field(description="The provider that wrote the answer (offline: templates).")
    model: str
    tokens: int = Field(description="Tokens in + out over every model call of the turn.")
    tokens_in: int
    tokens_out: int
    cost: float = Field(description="Dollars over every model call of the turn.")
    estimated: bool = Field(description="True when a provider reported no token counts.")
    tier: str
    fallback: bool = Field(description="True when a call was answered by a later tier than planned.")
    calls: int
    attempts: list[LlmAttemptRead]


class RecalledRead(BaseModel):
    session_id: uuid.UUID
    message_id: uuid.UUID
    role: str
    content: str
    similarity: float
    created_at: datetime


class ChatResponse(BaseModel):
    session_id: uuid.UUID
    reply: str
    agents: list[str] = Field(description="Agents that ran, in order.")
    citations: list[CitationRead] = Field(description="Every number the agents reported, with its source.")
    suggested_actions: list[SuggestedActionRead]
    usage: ChatUsageRead
    recalled: list[RecalledRead] = Field(description="Earlier messages put into the context as memory.")
    notices: list[str] = Field(
        description="Budget notices and what was repaired in the answer: a model's figures that no tool "
        "returned are never shown; the notice says whether the answer was rewritten or which sentences "
        "were removed (their unverified figures masked)."
    )
    templated: bool = Field(description="True when no language model wrote the reply (offline templates).")
    classification: str = Field(
        description="How agents were chosen: model tool choice or embedding similarity."
    )


class StreamTicketRead(BaseModel):
    ticket: str = Field(description="Opens one coach stream: `GET stream_url?ticket=…&message=…`.")
    expires_at: datetime = Field(description="The ticket opens a stream (or resumes one) until then.")
    stream_url: str = "/api/v1/coach/chat/stream"


class ReplayedAnswerRead(BaseModel):
    """The `final` event of a resumed stream: the turn's stored answer (the live one also has `recalled`)."""

    session_id: uuid.UUID
    reply: str
    agents: list[str]
    citations: list[CitationRead]
    suggested_actions: list[SuggestedActionRead]
    usage: ChatUsageRead
    notices: list[str]
    templated: bool
    replayed: bool = True
