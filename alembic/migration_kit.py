"""What the Alembic revisions share: role names and grants, tenant row-level security, tenant tables.

Revisions import it as ``migration_kit`` (``alembic.ini``'s ``prepend_sys_path`` puts this
folder on ``sys.path``). A revision runs the SQL these helpers build at the time it runs, so
a helper's SQL is frozen once a revision uses it: a new rule gets a new helper, never an edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context, op

# The transaction's tenant. The sub-select makes PostgreSQL evaluate the setting once per
# query; ``nullif`` turns the empty string of an unset setting into NULL, which matches no row.
CURRENT_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"


# ---------------------------------------------------------------- roles and grants


def role(option: str) -> str:
    """The role named by the migration context option ``option`` (``app_role``, ``worker_role``).

    Role names go into GRANT statements, which take no bind parameters: only letters,
    digits and underscores are accepted.
    """
    name = context.get_context().opts[option]
    if not name.replace("_", "").isalnum():
        raise RuntimeError(f"unsafe role name: {name!r}")
    return str(name)


def existing_role(option: str) -> str:
    """Like :func:`role`, and the role must exist: a clear message instead of a failed GRANT."""
    name = role(option)
    lookup = sa.text("select count(*) from pg_roles where rolname = :role")
    exists = op.get_bind().scalar(lookup, {"role": name})
    if not exists:
        raise RuntimeError(
            f"database role {name!r} does not exist: create it first "
            "(README, 'External PostgreSQL'; the embedded server and infra/postgres create it)"
        )
    return name


def grant_tenant_dml(grantee: str) -> None:
    """``grantee`` reads and writes every table of ``public`` (RLS still applies), now and later.

    Except the global benchmarks (written through a function) and Alembic's own table.
    """
    op.execute(f"grant usage on schema public to {grantee}")
    op.execute(f"grant select, insert, update, delete on all tables in schema public to {grantee}")
    op.execute(f"revoke insert, update, delete on external_benchmarks, alembic_version from {grantee}")
    op.execute(
        "alter default privileges in schema public grant select, insert, update, delete on tables "
        f"to {grantee}"
    )


def grant_schema_access(schema: str, grantee: str) -> None:
    """``grantee`` uses ``schema``: DML on its tables, its sequences, EXECUTE on its functions."""
    op.execute(f"grant usage on schema {schema} to {grantee}")
    op.execute(f"grant select, insert, update, delete on all tables in schema {schema} to {grantee}")
    op.execute(f"grant usage, select, update on all sequences in schema {schema} to {grantee}")
    op.execute(f"grant execute on all functions in schema {schema} to {grantee}")


def grant_execute(function: str, grantee: str) -> None:
    """Only ``grantee`` may call ``function`` (a signature such as ``f(text)``): PUBLIC's EXECUTE goes."""
    op.execute(f"revoke all on function {function} from public")
    op.execute(f"grant execute on function {function} to {grantee}")


# ---------------------------------------------------------------- row-level security


def enable_tenant_rls(table: str, column: str = "tenant_id") -> None:
    """RLS enabled and forced on ``table``, with one policy ``tenant_isolation`` on ``column``."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(
        f"create policy tenant_isolation on {table} "
        f"using ({column} = {CURRENT_TENANT}) with check ({column} = {CURRENT_TENANT})"
    )


def disable_tenant_rls(table: str) -> None:
    """Undo :func:`enable_tenant_rls`."""
    op.execute(f"drop policy tenant_isolation on {table}")
    op.execute(f"alter table {table} no force row level security")
    op.execute(f"alter table {table} disable row level security")


@contextmanager
def forced_rls_lifted(*tables: str) -> Iterator[None]:
    """RLS stays enabled but is not forced on ``tables`` inside the block, forced again after it.

    The owner runs migrations but RLS is forced: a cross-tenant backfill lifts it for its
    statements only, inside the migration's transaction. Forced again in reverse order.
    """
    for table in tables:
        op.execute(f"alter table {table} no force row level security")
    yield
    for table in reversed(tables):
        op.execute(f"alter table {table} force row level security")


# ---------------------------------------------------------------- tenant tables


def tenant_key() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """``tenant_id`` and ``id``: the leading columns (and primary key) of most tenant tables."""
    return sa.Column("tenant_id", sa.Uuid(), nullable=False), sa.Column("id", sa.Uuid(), nullable=False)


def created_now(name: str = "created_at") -> sa.Column[Any]:
    """A required time stamp that defaults to the inserting transaction's time."""
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def timestamps() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """``created_at`` and ``updated_at``."""
    return created_now("created_at"), created_now("updated_at")


def tenant_constraints(table: str, *key: str) -> tuple[sa.ForeignKeyConstraint, sa.PrimaryKeyConstraint]:
    """The row belongs to a tenant (and goes with it); its primary key is (tenant_id, *key).

    ``key`` is ``id`` unless given.
    """
    belongs_to_tenant = sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )
    primary_key = sa.PrimaryKeyConstraint("tenant_id", *(key or ("id",)), name=op.f(f"pk_{table}"))
    return belongs_to_tenant, primary_key


def tenant_reference(
    table: str, column: str, target: str, *, on_delete: Literal["cascade", "set null"]
) -> sa.ForeignKeyConstraint:
    """``(tenant_id, column)`` points at ``target``'s ``(tenant_id, id)``, so never at another tenant's row.

    ``set null`` clears ``column`` alone: the row keeps its tenant.
    """
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{target}.tenant_id", f"{target}.id"],
        name=op.f(f"fk_{table}_tenant_id_{column}_{target}"),
        ondelete="CASCADE" if on_delete == "cascade" else f"SET NULL ({column})",
    )
