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
