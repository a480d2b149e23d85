from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy import Double, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin


class OptimizationRun(TenantEntityMixin, TimestampMixin, Base):
    __tablename__ = "optimization_runs"
    __table_args__ = (Index("ix_optimization_runs_tenant_id_created_at", "tenant_id", "created_at"),)

    template: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(30))
    solver: Mapped[str | None] = mapped_column(String(20))
    objective: Mapped[float | None] = mapped_column(Double)
    params: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    solution: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    timings: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
