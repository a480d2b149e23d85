from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Double, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TimestampMixin


class BusinessMetric(Base):
    """One KPI observation. A TimescaleDB hypertable on ``ts`` when the extension exists.

    ``dimensions_key`` is the canonical text of ``dimensions`` (sorted ``k=v`` pairs, empty
    for none), so the natural key ``(tenant_id, metric, source, dimensions_key, ts)`` makes
    re-ingesting the same point from the same source an update, never a duplicate. Points of
    different sources are kept side by side; the metric definition's source rule says how a
    read combines them (never a silent sum).
    """

    __tablename__ = "business_metrics"
    __table_args__ = (Index("ix_business_metrics_tenant_id_metric_ts", "tenant_id", "metric", "ts"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(
        String(100), primary_key=True, default="manual", server_default="manual"
    )
    dimensions_key: Mapped[str] = mapped_column(String(1000), primary_key=True, server_default="")
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    value: Mapped[float] = mapped_column(Double)
    dimensions: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
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
    # ISO 4217 code for money metrics; values of different currencies are never added without a rate.
    currency: Mapped[str | None] = mapped_column(String(3))
    # "up" (more is better: revenue) or "down" (less is better: churn, costs); None = not stated.
    favourable_direction: Mapped[str | None] = mapped_column(String(4))
    # True: the metric can never be below zero (forecast bounds are clipped at 0); None = not stated.
    non_negative: Mapped[bool | None] = mapped_column(Boolean)
    # How clients should show a value: number, integer, currency, percent; None = number.
    display_format: Mapped[str | None] = mapped_column(String(10))
    # How points of several sources combine on read: "priority" (one source of truth, the first
    # of source_priority that has data) or "additive" (the sources really add up).
    source_rule: Mapped[str] = mapped_column(String(10), default="priority", server_default="priority")
    source_priority: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
