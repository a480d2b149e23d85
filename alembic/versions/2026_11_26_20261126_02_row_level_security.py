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

from collections.abc import Sequence

from alembic import context, op

revision: str = "20261126_02"
down_revision: str | None = "20261126_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
CURRENT_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"

# name -> (table, column compared with the argument)
CREDENTIAL_LOOKUPS = {
    "auth_tenant_for_email": ("users", "lower(email) = lower(credential)"),
    "auth_tenant_for_activation": ("users", "activation_token_hash = credential"),
    "auth_tenant_for_refresh_token": ("refresh_tokens", "token_hash = credential"),
    "auth_tenant_for_api_key": ("api_keys", "key_hash = credential"),
}
CREDENTIAL_TABLES = ("users", "refresh_tokens", "api_keys")


def _app_role() -> str:
    role = context.get_context().opts["app_role"]
    if not role.replace("_", "").isalnum():
        raise RuntimeError(f"unsafe application role name: {role!r}")
    return str(role)


def upgrade() -> None:
    app = _app_role()

    op.execute("alter table tenants enable row level security")
    op.execute("alter table tenants force row level security")
    op.execute(f"create policy tenant_isolation on tenants using (id = {CURRENT_TENANT}) with check (id = {CURRENT_TENANT})")
    for table in TENANT_TABLES:
        op.execute(f"alter table {table} enable row level security")
        op.execute(f"alter table {table} force row level security")
        op.execute(
            f"create policy tenant_isolation on {table} "
            f"using (tenant_id = {CURRENT_TENANT}) with check (tenant_id = {CURRENT_TENANT})"
        )

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
        op.execute(f"revoke all on function {function}(text) from public")
        op.execute(f"grant execute on function {function}(text) to {app}")

    op.execute(f"grant usage on schema public to {app}")
    op.execute(f"grant select, insert, update, delete on all tables in schema public to {app}")
    op.execute(f"revoke insert, update, delete on external_benchmarks, alembic_version from {app}")
    # Tables created by later migrations get the same DML grants without repeating this.
    op.execute(
        f"alter default privileges in schema public grant select, insert, update, delete on tables to {app}"
    )


def downgrade() -> None:
    app = _app_role()
    op.execute(
        f"alter default privileges in schema public revoke select, insert, update, delete on tables from {app}"
    )
    op.execute(f"revoke all on all tables in schema public from {app}")
    for function in CREDENTIAL_LOOKUPS:
        op.execute(f"drop function {function}(text)")
    for table in CREDENTIAL_TABLES:
        op.execute(f"drop policy credential_lookup on {table}")
    for table in (*TENANT_TABLES, "tenants"):
        op.execute(f"drop policy tenant_isolation on {table}")
        op.execute(f"alter table {table} no force row level security")
        op.execute(f"alter table {table} disable row level security")
