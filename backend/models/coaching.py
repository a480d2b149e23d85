from __future__ import annotations

import uuid
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin, tenant_reference

# all-MiniLM-L6-v2, the default local embedding model.
EMBEDDING_DIMENSIONS = 384


class CoachingSession(TenantEntityMixin, TimestampMixin, Base):
    __tablename__ = "coaching_sessions"
    __table_args__ = (
        tenant_reference("user_id", "users", on_delete="set null"),
        Index("ix_coaching_sessions_tenant_id_user_id", "tenant_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID | None]
    title: Mapped[str | None] = mapped_column(String(200))


class CoachingMessage(TenantEntityMixin, TimestampMixin, Base):
    """One chat message; exchanges carry an embedding for semantic memory (HNSW, cosine)."""

    __tablename__ = "coaching_messages"
    __table_args__ = (
        CheckConstraint("role in ('user', 'assistant', 'tool', 'system')", name="role_valid"),
        tenant_reference("session_id", "coaching_sessions", on_delete="cascade"),
        Index("ix_coaching_messages_tenant_id_session_id", "tenant_id", "session_id"),
        # An ANN index cannot lead with tenant_id; RLS and the tenant filter still apply to every search.
        Index(
            "ix_coaching_messages_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )

    session_id: Mapped[uuid.UUID]
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
