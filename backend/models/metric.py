from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Double, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TimestampMixin


class BusinessMetric(Base):
    """One KPI observation. A TimescaleDB hypertable on ``ts`` when the extension exists.

    ``dimensions_key`` is the canonical text of ``dimensions`` (sorted ``k=v`` pairs, empty
    for none), so the natural key ``(tenant_id, metric, dimensions_key, ts)`` makes
    re-ingesting the same point an update, never a duplicate.
    """

    __tablename__ = "business_metrics"
    __table_args__ = (Index("ix_business_metrics_tenant_id_metric_ts", "tenant_id", "metric", "ts"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    dimensions_key: Mapped[str] = mapped_column(String(1000), primary_key=True, server_default="")
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    value: Mapped[float] = mapped_column(Double)
    dimensions: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    source: Mapped[str] = mapped_column(String(100), default="manual", server_default="manual")
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MetricDefinition(TimestampMixin, Base):
    """The tenant's metric catalog: what a metric means and how it aggregates by default.

    Created on first ingest (aggregation inferred from the name) or declared up front;
    first/last timestamps and point counts are computed from ``business_metrics``.
    """

    __tablename__ = "metric_definitions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    unit: Mapped[str | None] = mapped_column(String(30))
    description: Mapped[str | None] = mapped_column(String(500))
    aggregation: Mapped[str] = mapped_column(String(10))
