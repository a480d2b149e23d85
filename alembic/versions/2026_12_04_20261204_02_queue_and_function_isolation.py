"""Isolation below the API: the job queue and the cross-tenant functions belong to the worker role.

Until now the application role could read and update every tenant's rows in
``procrastinate.procrastinate_jobs`` (payloads included), list every tenant's due sources
with ``connector_due_sources`` and write global benchmarks with
``import_external_benchmarks`` — and PUBLIC could execute every procrastinate function.

After this revision:

- A third role, the *worker* role (``DATABASE_WORKER_ROLE``, created like the other two by
  the embedded server or the deployment's init script), alone has the procrastinate schema:
  workers and the scheduler connect as it. It also gets the application role's DML on the
  tenant tables (the jobs run tenant sessions, under RLS like the API).
- The application role has nothing in the procrastinate schema. It queues jobs through
  ``defer_tenant_job``, a SECURITY DEFINER function that refuses a job carrying another
  tenant than the transaction's ``app.tenant_id`` (or locks outside that tenant's prefix),
  and counts live workers for readiness through ``live_worker_count``.
- ``connector_due_sources`` and ``import_external_benchmarks`` are executable by the worker
  role only (the benchmark import runs as a job, after the worker re-checks
  ``BENCHMARK_ADMIN_TENANTS``).
- PUBLIC executes none of our functions, and functions the owner creates later start
  without PUBLIC's EXECUTE (default privileges); tests/test_schema_security.py keeps an
  allowlist of what the application role may execute.

Revision ID: 20261204_02
Revises: 20261204_01
Create Date: 2026-12-04 18:30:00+00:00
"""

from alembic import op
from migration_kit import CURRENT_TENANT, existing_role, grant_schema_access, grant_tenant_dml

revision: str = "20261204_02"
down_revision: str | None = "20261204_01"

QUEUE = "procrastinate"
WORKER_ONLY_FUNCTIONS = ("connector_due_sources(timestamptz)", "import_external_benchmarks(jsonb)")
DEFER = "defer_tenant_job(varchar, varchar, text, text, jsonb)"
LIVE_WORKERS = "live_worker_count(interval)"
# Our own functions (not an extension's) in our schemas: none keeps PUBLIC's EXECUTE.
REVOKE_PUBLIC_EXECUTE = """
do $$
declare fn regprocedure;
begin
  for fn in select p.oid::regprocedure from pg_proc p
            where p.pronamespace in ('public'::regnamespace, 'procrastinate'::regnamespace)
              and pg_get_userbyid(p.proowner) = current_user
              and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                              and d.objid = p.oid and d.deptype = 'e') loop
    execute format('revoke execute on function %s from public', fn);
  end loop;
end $$
"""


def _create_functions() -> None:
    op.execute(
        f"""
        create function defer_tenant_job(
          queue_name varchar, task_name varchar, lock text, queueing_lock text, args jsonb
        ) returns bigint
        language plpgsql volatile security definer
        set search_path = pg_catalog, procrastinate
        as $$
        declare
          tenant uuid := {CURRENT_TENANT};
        begin
          if tenant is null or args->>'tenant_id' is distinct from tenant::text then
            raise exception 'a job must carry the tenant of its transaction' using errcode = '42501';
          end if;
          if not starts_with(coalesce(lock, tenant::text || ':'), tenant::text || ':')
             or not starts_with(coalesce(queueing_lock, tenant::text || ':'), tenant::text || ':') then
            raise exception 'job locks must start with the tenant id' using errcode = '42501';
          end if;
          return (procrastinate.procrastinate_defer_jobs_v1(array[
            row(queue_name, task_name, 0, lock, queueing_lock, args, null)
              ::procrastinate.procrastinate_job_to_defer_v1
          ]))[1];
        end
        $$
        """
    )
    op.execute(
        """
        create function live_worker_count(max_silence interval) returns integer
        language sql stable security definer
        set search_path = pg_catalog, procrastinate
        as $$
          select count(*)::integer from procrastinate.procrastinate_workers
          where last_heartbeat >= now() - max_silence
        $$
        """
    )


def upgrade() -> None:
    app, worker = existing_role("app_role"), existing_role("worker_role")

    # The queue: the worker role's alone.
    op.execute(f"revoke all on all tables in schema {QUEUE} from {app}")
    op.execute(f"revoke all on all sequences in schema {QUEUE} from {app}")
    op.execute(f"revoke all on all functions in schema {QUEUE} from {app}")
    op.execute(f"revoke all on schema {QUEUE} from {app}")
    grant_schema_access(QUEUE, worker)
    op.execute(f"alter default privileges in schema {QUEUE} grant select, insert, update, delete on tables to {worker}")
    op.execute(f"alter default privileges in schema {QUEUE} grant usage, select, update on sequences to {worker}")
    op.execute(f"alter default privileges in schema {QUEUE} grant execute on functions to {worker}")

    # Tenant tables: the jobs run tenant sessions, with the API's DML (revision 02), under RLS.
    grant_tenant_dml(worker)

    for function in WORKER_ONLY_FUNCTIONS:
        op.execute(f"revoke all on function {function} from public, {app}")
        op.execute(f"grant execute on function {function} to {worker}")

    _create_functions()
    op.execute("alter default privileges revoke execute on functions from public")
    op.execute(REVOKE_PUBLIC_EXECUTE)
    for function in (DEFER, LIVE_WORKERS):
        op.execute(f"grant execute on function {function} to {app}, {worker}")


def downgrade() -> None:
    app, worker = existing_role("app_role"), existing_role("worker_role")
    op.execute(f"drop function {LIVE_WORKERS}")
    op.execute(f"drop function {DEFER}")
    op.execute("alter default privileges grant execute on functions to public")
    op.execute(f"grant execute on all functions in schema {QUEUE} to public")
    for function in WORKER_ONLY_FUNCTIONS:
        op.execute(f"revoke all on function {function} from {worker}")
        op.execute(f"grant execute on function {function} to {app}")

    op.execute(f"alter default privileges in schema public revoke select, insert, update, delete on tables from {worker}")
    op.execute(f"revoke all on all tables in schema public from {worker}")
    op.execute(f"revoke all on schema public from {worker}")

    op.execute(f"alter default privileges in schema {QUEUE} revoke execute on functions from {worker}")
    op.execute(f"alter default privileges in schema {QUEUE} revoke usage, select, update on sequences from {worker}")
    op.execute(
        f"alter default privileges in schema {QUEUE} revoke select, insert, update, delete on tables from {worker}"
    )
    op.execute(f"revoke all on all functions in schema {QUEUE} from {worker}")
    op.execute(f"revoke all on all sequences in schema {QUEUE} from {worker}")
    op.execute(f"revoke all on all tables in schema {QUEUE} from {worker}")
    op.execute(f"revoke all on schema {QUEUE} from {worker}")
    grant_schema_access(QUEUE, app)
