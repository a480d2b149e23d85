from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TimestampMixin


class Tenant(TimestampMixin, Base):
    """A business using Dyocense. Its RLS policy matches ``id`` against the current tenant."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    # ISO 4217: money rollups are read converted into it (with the tenant's exchange rates);
    # None = no conversion, each metric reads in its own currency.
    reporting_currency: Mapped[str | None] = mapped_column(String(3))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
