from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue
from sqlalchemy import DateTime, Double, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin


class EvidenceEdge(TenantEntityMixin, Base):
    """One causal finding ``cause -> effect`` with its estimate, interval and refutations."""

    __tablename__ = "evidence_graph"
    __table_args__ = (
        Index("ix_evidence_graph_tenant_id_cause_effect", "tenant_id", "cause", "effect", "analysed_at"),
    )

    cause: Mapped[str] = mapped_column(String(100))
    effect: Mapped[str] = mapped_column(String(100))
    effect_size: Mapped[float | None] = mapped_column(Double)
    ci_lower: Mapped[float | None] = mapped_column(Double)
    ci_upper: Mapped[float | None] = mapped_column(Double)
    method: Mapped[str] = mapped_column(String(50))
    verdict: Mapped[str] = mapped_column(String(20))
    refutations: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    details: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    data_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    analysed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
