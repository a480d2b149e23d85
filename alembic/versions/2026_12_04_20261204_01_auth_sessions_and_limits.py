"""Revocable access tokens, per-tenant emails, login backoff, limits the app cannot reset.

- ``users.token_version``: access tokens carry it (``tv``); password change, deactivation
  and "sign out everywhere" bump it, and the per-request caller query compares it.
- Access tokens also carry their sign-in's refresh family (``sid``); the same query checks
  that the family still has a live token, so logout ends the access token at once. A
  partial index keeps that check to the live rows of one family.
- Emails are unique per tenant (``uq_users_tenant_id_email_lower``), no longer across the
  deployment: signing up or inviting an address used by another tenant simply works, so
  neither can reveal that the other tenant's user exists. ``auth_tenant_for_email`` now
  names the tenant of the newest active, activated user with that email (sign-in without
  a tenant); a client that belongs to several tenants names one.
- ``rate_limit_backoff``: failed sign-ins per (account, address), with a growing block.
- The app role loses DELETE on both limit tables (it could reset its own limits); old rows
  go through ``rate_limit_cleanup()``, a SECURITY DEFINER function that only deletes rows
  older than a day.

Revision ID: 20261204_01
Revises: 20261126_04
Create Date: 2026-12-04 18:40:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import grant_execute, role

revision: str = "20261204_01"
down_revision: str | None = "20261126_04"

LIMIT_TABLES = ("rate_limit_counters", "rate_limit_backoff")

_EMAIL_LOOKUP_GLOBAL = "select tenant_id from public.users where lower(email) = lower(credential) limit 1"
_EMAIL_LOOKUP_NEWEST_ACTIVE = (
    "select tenant_id from public.users where lower(email) = lower(credential) "
    "and is_active and password_hash is not null order by created_at desc, id desc limit 1"
)


def _email_lookup(body: str) -> None:
    op.execute(
        f"""
        create or replace function auth_tenant_for_email(credential text) returns uuid
        language sql stable security definer
        set search_path = pg_catalog, public
        as $$ {body} $$
        """
    )


def upgrade() -> None:
    app = role("app_role")
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))

    op.drop_index("uq_users_email_lower", table_name="users")
    op.create_index(
        "uq_users_tenant_id_email_lower",
        "users",
        ["tenant_id", sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_index("ix_users_email_lower", "users", [sa.literal_column("lower(email)")])
    _email_lookup(_EMAIL_LOOKUP_NEWEST_ACTIVE)

    op.create_index(
        "ix_refresh_tokens_tenant_id_family_id_live",
        "refresh_tokens",
        ["tenant_id", "family_id"],
        postgresql_where=sa.text("revoked_at is null"),
    )

    op.create_table(
        "rate_limit_backoff",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_rate_limit_backoff")),
    )
    op.execute(
        """
        create function rate_limit_cleanup() returns void
        language sql volatile security definer
        set search_path = pg_catalog, public
        as $$
          delete from public.rate_limit_counters where window_start < now() - interval '1 day';
          delete from public.rate_limit_backoff where last_failure_at < now() - interval '1 day';
        $$
        """
    )
    grant_execute("rate_limit_cleanup()", app)
    for table in LIMIT_TABLES:
        op.execute(f"revoke delete on {table} from {app}")


def downgrade() -> None:
    app = role("app_role")
    op.execute(f"grant delete on rate_limit_counters to {app}")
    op.execute("drop function rate_limit_cleanup()")
    op.drop_table("rate_limit_backoff")
    op.drop_index("ix_refresh_tokens_tenant_id_family_id_live", table_name="refresh_tokens")
    _email_lookup(_EMAIL_LOOKUP_GLOBAL)
    op.drop_index("ix_users_email_lower", table_name="users")
    op.drop_index("uq_users_tenant_id_email_lower", table_name="users")
    # Fails if two tenants now share an email: such a database cannot go back to global emails.
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
    op.drop_column("users", "token_version")
