from __future__ import annotations

from sqlalchemy import LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, CreatedAtMixin, TenantEntityMixin


class MetricUpload(TenantEntityMixin, CreatedAtMixin, Base):
    """An uploaded file too large for a request, kept (under forced RLS) until its job has read it.

    The bytes live in the tenant's own row, never in a shared directory; the job deletes the row
    once the file is ingested or refused.
    """

    __tablename__ = "metric_uploads"

    filename: Mapped[str] = mapped_column(String(255))
    layout: Mapped[str] = mapped_column(String(10))
    dimensions: Mapped[list[str] | None] = mapped_column(JSONB)
    content: Mapped[bytes] = mapped_column(LargeBinary)
