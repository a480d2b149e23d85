from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue
from sqlalchemy import DateTime, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, CreatedAtMixin, TenantEntityMixin


class MarketingMixModel(TenantEntityMixin, CreatedAtMixin, Base):
    """A fitted marketing-mix model: channels' curves, contributions, ROI and the decomposition."""

    __tablename__ = "marketing_mix_models"
    __table_args__ = (Index("ix_marketing_mix_models_tenant_id_created_at", "tenant_id", "created_at"),)

    outcome: Mapped[str] = mapped_column(String(100))
    channels: Mapped[list[str]] = mapped_column(JSONB)
    frequency: Mapped[str] = mapped_column(String(10))
    result: Mapped[dict[str, JsonValue]] = mapped_column(JSONB)
    inputs: Mapped[dict[str, JsonValue]] = mapped_column(JSONB)
    data_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
