from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin


class DataSource(TenantEntityMixin, TimestampMixin, Base):
    """A configured connector; credentials are stored encrypted, never in ``config``."""

    __tablename__ = "data_sources"
    __table_args__ = (Index("uq_data_sources_tenant_id_name", "tenant_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    connector_type: Mapped[str] = mapped_column(String(50))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    schedule: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    sync_cursor: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the schedule next fires; the periodic dispatcher enqueues sources whose time has come.
    next_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
