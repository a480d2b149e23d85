from __future__ import annotations

import uuid

from sqlalchemy import Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TimestampMixin


class ExternalBenchmark(TimestampMixin, Base):
    """Industry reference figures; global (not tenant data) and read-only to the app role."""

    __tablename__ = "external_benchmarks"
    __table_args__ = (Index("ix_external_benchmarks_industry_metric", "industry", "metric"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    industry: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(20))
    p25: Mapped[float | None] = mapped_column(Double)
    p50: Mapped[float | None] = mapped_column(Double)
    p75: Mapped[float | None] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(200))
    source_url: Mapped[str] = mapped_column(String(500))
    year: Mapped[int] = mapped_column(Integer)
