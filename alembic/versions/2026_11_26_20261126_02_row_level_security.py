"""Row-level security, application-role grants, and credential lookups.

Every tenant table gets RLS enabled *and forced* with one policy, ``tenant_isolation``,
that compares ``tenant_id`` with the transaction-local setting ``app.tenant_id``. The
sub-select makes PostgreSQL evaluate the setting once per query; ``nullif`` turns the
empty string of an unset setting into NULL, which matches no row.

Signing in must find a tenant before any tenant is set. Rather than opening tables to
the application role, four narrow ``SECURITY DEFINER`` functions map a credential
(an email, or the hash of a token or key) to its tenant id and nothing else; everything
after that runs under RLS with that tenant. They run as the owner role, so the owner
gets SELECT-only policies on the three credential tables (FORCE RLS binds owners too).

Revision ID: 20261126_02
Revises: 20261126_01
Create Date: 2026-11-26 14:40:00+00:00
"""

from alembic import op
from migration_kit import disable_tenant_rls, enable_tenant_rls, grant_execute, grant_tenant_dml, role

revision: str = "20261126_02"
down_revision: str | None = "20261126_01"

TENANT_TABLES = (
    "users",
    "refresh_tokens",
    "api_keys",
    "smart_goals",
    "business_metrics",
    "coaching_sessions",
    "coaching_messages",
    "data_sources",
    "evidence_graph",
    "forecasts",
    "optimization_runs",
    "llm_usage",
)

# name -> (table, column compared with the argument)
CREDENTIAL_LOOKUPS = {
    "auth_tenant_for_email": ("users", "lower(email) = lower(credential)"),
    "auth_tenant_for_activation": ("users", "activation_token_hash = credential"),
    "auth_tenant_for_refresh_token": ("refresh_tokens", "token_hash = credential"),
    "auth_tenant_for_api_key": ("api_keys", "key_hash = credential"),
}
CREDENTIAL_TABLES = ("users", "refresh_tokens", "api_keys")


def upgrade() -> None:
    app = role("app_role")

    enable_tenant_rls("tenants", column="id")
    for table in TENANT_TABLES:
        enable_tenant_rls(table)

    for table in CREDENTIAL_TABLES:
        op.execute(f"create policy credential_lookup on {table} for select to current_user using (true)")
    for function, (table, condition) in CREDENTIAL_LOOKUPS.items():
        op.execute(
            f"""
            create function {function}(credential text) returns uuid
            language sql stable security definer
            set search_path = pg_catalog, public
            as $$ select tenant_id from public.{table} where {condition} limit 1 $$
            """
        )
        grant_execute(f"{function}(text)", app)

    # Also on tables that later migrations create, without repeating this.
    grant_tenant_dml(app)


def downgrade() -> None:
    app = role("app_role")
    op.execute(
        f"alter default privileges in schema public revoke select, insert, update, delete on tables from {app}"
    )
    op.execute(f"revoke all on all tables in schema public from {app}")
    for function in CREDENTIAL_LOOKUPS:
        op.execute(f"drop function {function}(text)")
    for table in CREDENTIAL_TABLES:
        op.execute(f"drop policy credential_lookup on {table}")
    for table in (*TENANT_TABLES, "tenants"):
        disable_tenant_rls(table)
