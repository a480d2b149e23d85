"""Background jobs (procrastinate's queue + a tenant status table) and connectors.

- The procrastinate schema (``procrastinate.schema.SchemaManager.get_schema()``) is
  applied inside its own PostgreSQL schema, ``procrastinate``: its tables are the queue
  (not tenant data) and stay out of ``public``, where every table is a model and every
  tenant table is under RLS. Its functions get a fixed ``search_path`` so the triggers
  and ``procrastinate_defer_jobs_v1`` work from any session (the API defers jobs in its
  own transaction); the worker connects with ``search_path=procrastinate``.
- ``background_jobs`` (what a tenant polls) and ``connector_syncs`` (sync history), both
  tenant-scoped with forced RLS; ``data_sources.next_sync_at`` for schedules.
- ``connector_due_sources()``: the scheduler runs without a tenant, so one narrow
  SECURITY DEFINER function returns (tenant_id, id) of sources whose schedule is due —
  nothing else — like the credential lookups of revision 02.
- ``import_external_benchmarks(jsonb)``: ``external_benchmarks`` is global and read-only
  to the app role; this SECURITY DEFINER function is its only write path (the API calls
  it for owners/admins only). It requires provenance on every row and replaces rows with
  the same (industry, metric, period, year, source), so a re-import does not duplicate.

Revision ID: 20261126_04
Revises: 20261126_03
Create Date: 2026-11-26 16:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import (
    created_now,
    enable_tenant_rls,
    grant_execute,
    grant_schema_access,
    role,
    tenant_constraints,
    tenant_key,
    tenant_reference,
)
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

revision: str = "20261126_04"
down_revision: str | None = "20261126_03"

QUEUE_SCHEMA = "procrastinate"
TENANT_TABLES = ("background_jobs", "connector_syncs")


def _execute_script(sql: str) -> None:
    """Run a multi-statement SQL script (functions with $$ bodies) as one simple query."""
    bind = op.get_bind()
    driver_connection = bind.connection.driver_connection
    if bind.dialect.driver == "asyncpg":
        await_only(driver_connection.execute(sql))  # simple-query protocol: many statements
    else:
        bind.exec_driver_sql(sql.replace("%", "%%"))


def _upgrade_queue(app: str) -> None:
    op.execute(f"create schema {QUEUE_SCHEMA}")
    op.execute(f"set local search_path to {QUEUE_SCHEMA}, pg_catalog")
    _execute_script(SchemaManager.get_schema())
    op.execute("set local search_path to public")
    # Fixed search_path: triggers and functions find the queue tables from any session.
    op.execute(
        """
        do $$
        declare fn regprocedure;
        begin
          for fn in select p.oid::regprocedure from pg_proc p
                    where p.pronamespace = 'procrastinate'::regnamespace loop
            execute format('alter function %s set search_path = procrastinate, pg_catalog', fn);
          end loop;
        end $$
        """
    )
    grant_schema_access(QUEUE_SCHEMA, app)


def upgrade() -> None:
    app = role("app_role")
    _upgrade_queue(app)

    op.create_table(
        "background_jobs",
        *tenant_key(),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="queued", nullable=False),
        sa.Column("progress", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("queue_job_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        created_now(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status in ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_background_jobs_status_valid"),
        ),
        sa.CheckConstraint("progress between 0 and 100", name=op.f("ck_background_jobs_progress_range")),
        *tenant_constraints("background_jobs"),
    )
    op.create_index("ix_background_jobs_tenant_id_created_at", "background_jobs", ["tenant_id", "created_at"])
    op.create_index(
        "ix_background_jobs_tenant_id_kind_status", "background_jobs", ["tenant_id", "kind", "status"]
    )

    op.create_table(
        "connector_syncs",
        *tenant_key(),
        sa.Column("data_source_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("records_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("points_written", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "cursor_before", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("cursor_after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        created_now(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status in ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_connector_syncs_status_valid"),
        ),
        sa.CheckConstraint(
            "trigger in ('manual', 'schedule', 'upload')", name=op.f("ck_connector_syncs_trigger_valid")
        ),
        tenant_reference("connector_syncs", "data_source_id", "data_sources", on_delete="cascade"),
        tenant_reference("connector_syncs", "job_id", "background_jobs", on_delete="set null"),
        *tenant_constraints("connector_syncs"),
    )
    op.create_index(
        "ix_connector_syncs_tenant_id_data_source_id_created_at",
        "connector_syncs",
        ["tenant_id", "data_source_id", "created_at"],
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    # DML grants to the app role on these tables come from revision 02's default privileges.

    op.add_column("data_sources", sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("create policy schedule_lookup on data_sources for select to current_user using (true)")
    op.execute(
        """
        create function connector_due_sources(due_before timestamptz)
        returns table (tenant_id uuid, id uuid)
        language sql stable security definer
        set search_path = pg_catalog, public
        as $$
          select tenant_id, id from public.data_sources
          where next_sync_at <= due_before and status = 'active' and schedule is not null
          order by next_sync_at
        $$
        """
    )
    grant_execute("connector_due_sources(timestamptz)", app)

    op.execute(
        """
        create function import_external_benchmarks(rows jsonb) returns integer
        language plpgsql volatile security definer
        set search_path = pg_catalog, public
        as $$
        declare
          item jsonb;
          written integer := 0;
        begin
          if jsonb_typeof(rows) <> 'array' then
            raise exception 'benchmark rows must be a JSON array' using errcode = '22023';
          end if;
          for item in select value from jsonb_array_elements(rows) loop
            if coalesce(item->>'industry', '') = '' or coalesce(item->>'metric', '') = ''
               or coalesce(item->>'period', '') = '' or coalesce(item->>'source', '') = ''
               or coalesce(item->>'source_url', '') !~ '^https?://' or (item->>'year') is null then
              raise exception 'benchmark row without full provenance: %', item using errcode = '22023';
            end if;
            delete from public.external_benchmarks b
             where b.industry = item->>'industry' and b.metric = item->>'metric'
               and b.period = item->>'period' and b.year = (item->>'year')::int
               and b.source = item->>'source';
            insert into public.external_benchmarks
              (id, industry, metric, period, p25, p50, p75, source, source_url, year)
            values (gen_random_uuid(), item->>'industry', item->>'metric', item->>'period',
                    (item->>'p25')::float8, (item->>'p50')::float8, (item->>'p75')::float8,
                    item->>'source', item->>'source_url', (item->>'year')::int);
            written := written + 1;
          end loop;
          return written;
        end
        $$
        """
    )
    grant_execute("import_external_benchmarks(jsonb)", app)


def downgrade() -> None:
    op.execute("drop function import_external_benchmarks(jsonb)")
    op.execute("drop function connector_due_sources(timestamptz)")
    op.execute("drop policy schedule_lookup on data_sources")
    op.drop_column("data_sources", "next_sync_at")
    op.drop_index("ix_connector_syncs_tenant_id_data_source_id_created_at", table_name="connector_syncs")
    op.drop_table("connector_syncs")
    op.drop_index("ix_background_jobs_tenant_id_kind_status", table_name="background_jobs")
    op.drop_index("ix_background_jobs_tenant_id_created_at", table_name="background_jobs")
    op.drop_table("background_jobs")
    op.execute(f"drop schema {QUEUE_SCHEMA} cascade")
