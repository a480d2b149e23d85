"""Credentials other than passwords: refresh tokens and API keys (both stored hashed)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin, tenant_reference
from backend.models.user import ROLE_VALUES


class RefreshToken(TenantEntityMixin, Base):
    """One refresh token of a rotation family; reuse of a rotated token revokes the family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        tenant_reference("user_id", "users", on_delete="cascade"),
        # Global: the token hash is what finds the tenant.
        Index("uq_refresh_tokens_token_hash", "token_hash", unique=True),
        Index("ix_refresh_tokens_tenant_id_family_id", "tenant_id", "family_id"),
        # The per-request check that an access token's sign-in is still live reads only these.
        Index(
            "ix_refresh_tokens_tenant_id_family_id_live",
            "tenant_id",
            "family_id",
            postgresql_where=text("revoked_at is null"),
        ),
    )

    user_id: Mapped[uuid.UUID]
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(TenantEntityMixin, TimestampMixin, Base):
    """A key for scripts: scoped to its tenant and a role; only its hash is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(f"role in ({ROLE_VALUES})", name="role_valid"),
        tenant_reference("created_by", "users", on_delete="cascade"),
        Index("uq_api_keys_key_hash", "key_hash", unique=True),
    )

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID]
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
