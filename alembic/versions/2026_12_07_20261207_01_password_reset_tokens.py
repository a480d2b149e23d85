"""Password reset: a one-time token per user, stored hashed like activation tokens.

- ``users.password_reset_token_hash`` / ``password_reset_expires_at``: the hash of the one
  live reset link (a newer request replaces it; using it clears it), unique when set.
- ``auth_tenant_for_password_reset(text)``: like the other credential lookups, a SECURITY
  DEFINER function mapping a token hash to its tenant before any tenant is set; only the
  application role may call it.

Revision ID: 20261207_01
Revises: 20261207_02
Create Date: 2026-12-07 14:40:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import grant_execute, role

revision: str = "20261207_01"
down_revision: str | None = "20261207_02"


def upgrade() -> None:
    app = role("app_role")
    op.add_column("users", sa.Column("password_reset_token_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "users", sa.Column("password_reset_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "uq_users_password_reset_token_hash",
        "users",
        ["password_reset_token_hash"],
        unique=True,
        postgresql_where=sa.text("password_reset_token_hash is not null"),
    )
    op.execute(
        """
        create function auth_tenant_for_password_reset(credential text) returns uuid
        language sql stable security definer
        set search_path = pg_catalog, public
        as $$ select tenant_id from public.users where password_reset_token_hash = credential limit 1 $$
        """
    )
    grant_execute("auth_tenant_for_password_reset(text)", app)


def downgrade() -> None:
    op.execute("drop function auth_tenant_for_password_reset(text)")
    op.drop_index("uq_users_password_reset_token_hash", table_name="users")
    op.drop_column("users", "password_reset_expires_at")
    op.drop_column("users", "password_reset_token_hash")
