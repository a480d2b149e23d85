from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue
from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin


class Forecast(TenantEntityMixin, TimestampMixin, Base):
    __tablename__ = "forecasts"
    __table_args__ = (Index("ix_forecasts_tenant_id_metric_created_at", "tenant_id", "metric", "created_at"),)

    metric: Mapped[str] = mapped_column(String(100))
    frequency: Mapped[str] = mapped_column(String(16))
    horizon: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="completed", server_default="completed")
    inputs: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    result: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    scores: Mapped[dict[str, JsonValue]] = mapped_column(JSONB, default=dict, server_default="{}")
    data_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
