from __future__ import annotations

from sqlalchemy import Boolean, Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin


class LlmUsage(TenantEntityMixin, TimestampMixin, Base):
    """One LLM call: who paid, which provider and model, tokens, cost and outcome."""

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_tenant_id_created_at", "tenant_id", "created_at"),)

    provider: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(100))
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    tokens_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    cost_dollars: Mapped[float] = mapped_column(Double)
    latency_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
