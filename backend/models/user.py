from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantEntityMixin, TimestampMixin


class Role(StrEnum):
    """Roles, strongest first: owner > admin > analyst > viewer."""

    OWNER = "owner"
    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2, Role.OWNER: 3}
ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class User(TenantEntityMixin, TimestampMixin, Base):
    """A person who signs in. An email is unique within its tenant; another tenant may use it too."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role in ({ROLE_VALUES})", name="role_valid"),
        # Per tenant, so sign-up and invites never reveal another tenant's user.
        Index("uq_users_tenant_id_email_lower", "tenant_id", func.lower(text("email")), unique=True),
        # Deliberately global (not tenant-led): sign-in without a tenant finds it by email.
        Index("ix_users_email_lower", func.lower(text("email"))),
        Index(
            "uq_users_activation_token_hash",
            "activation_token_hash",
            unique=True,
            postgresql_where=text("activation_token_hash is not null"),
        ),
        Index(
            "uq_users_password_reset_token_hash",
            "password_reset_token_hash",
            unique=True,
            postgresql_where=text("password_reset_token_hash is not null"),
        ),
    )

    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    activation_token_hash: Mapped[str | None] = mapped_column(String(64))
    activation_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The one live password-reset link (hashed); a newer request replaces it, using it clears it.
    password_reset_token_hash: Mapped[str | None] = mapped_column(String(64))
    password_reset_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # In every access token; bumped to end them all (password change, deactivation, sign-out everywhere).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
