"""The catalog proves the RLS recipe holds for every tenant table, function and the job queue."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.models import GLOBAL_TABLES, Base
from backend.utils.database_urls import DatabaseUrls
from tests.conftest import query_rows


async def _tables_with_tenant_id(engine: AsyncEngine) -> set[str]:
    rows = await query_rows(
        engine,
        "select table_name from information_schema.columns "
        "where table_schema = 'public' and column_name = 'tenant_id'",
    )
    return {row.table_name for row in rows}


async def test_every_tenant_table_has_forced_rls_and_a_tenant_policy(owner_engine: AsyncEngine) -> None:
    tenant_tables = await _tables_with_tenant_id(owner_engine) | {"tenants"}
    assert "business_metrics" in tenant_tables and "users" in tenant_tables
    rows = await query_rows(
        owner_engine,
        "select c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "  (select count(*) from pg_policy p where p.polrelid = c.oid "
        "     and p.polname = 'tenant_isolation' "
        "     and pg_get_expr(p.polqual, p.polrelid) like '%app.tenant_id%' "
        "     and pg_get_expr(p.polwithcheck, p.polrelid) like '%app.tenant_id%') as policies "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relname = any(:tables)",
        tables=sorted(tenant_tables),
    )
    found = {row.relname: row for row in rows}
    assert set(found) == tenant_tables
    problems = [
        name
        for name, row in found.items()
        if not (row.relrowsecurity and row.relforcerowsecurity and row.policies == 1)
    ]
    assert problems == []


async def test_model_tables_are_tenant_scoped_unless_declared_global(owner_engine: AsyncEngine) -> None:
    with_tenant = await _tables_with_tenant_id(owner_engine)
    for table in Base.metadata.tables:
        assert table in with_tenant or table in GLOBAL_TABLES, (
            f"{table} has no tenant_id and is not declared global"
        )


async def test_tenant_id_leads_every_key_and_index_of_tenant_tables(owner_engine: AsyncEngine) -> None:
    # Deliberate exceptions: global credential lookups and the vector ANN index.
    exceptions = {
        "ix_users_email_lower",
        "uq_users_activation_token_hash",
        "uq_users_password_reset_token_hash",
        "uq_refresh_tokens_token_hash",
        "uq_api_keys_key_hash",
        "ix_coaching_messages_embedding_hnsw",
    }
    tenant_tables = await _tables_with_tenant_id(owner_engine)
    rows = await query_rows(
        owner_engine,
        "select t.relname as table_name, i.relname as index_name, "
        "  (select a.attname from pg_attribute a where a.attrelid = t.oid "
        "     and a.attnum = x.indkey[0]) as first_column "
        "from pg_index x join pg_class i on i.oid = x.indexrelid "
        "join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace "
        "where n.nspname = 'public' and t.relname = any(:tables)",
        tables=sorted(tenant_tables),
    )
    offenders = [
        f"{row.table_name}.{row.index_name}"
        for row in rows
        if row.first_column != "tenant_id" and row.index_name not in exceptions
    ]
    assert offenders == []


async def test_app_role_has_no_way_around_rls(app_engine: AsyncEngine) -> None:
    async with app_engine.connect() as connection:
        role = (
            await connection.execute(
                text("select rolsuper, rolbypassrls from pg_roles where rolname = current_user")
            )
        ).one()
        owned = await connection.scalar(
            text(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and pg_get_userbyid(c.relowner) = current_user"
            )
        )
    assert (role.rolsuper, role.rolbypassrls, owned) == (False, False, 0)


async def test_app_role_cannot_write_external_benchmarks(app_engine: AsyncEngine) -> None:
    async with app_engine.connect() as connection:
        can_select, can_insert = (
            await connection.execute(
                text(
                    "select has_table_privilege('external_benchmarks', 'select'), "
                    "has_table_privilege('external_benchmarks', 'insert')"
                )
            )
        ).one()
    assert (can_select, can_insert) == (True, False)


# ---------------------------------------------------------------- functions and the job queue

# What the application role may execute in our schemas, and why. Anything else executable
# by it (or by PUBLIC) fails the catalog test below: grant new functions deliberately.
APP_EXECUTABLE = {
    "auth_tenant_for_email(text)": "sign-in maps a credential to its tenant before any tenant is set",
    "auth_tenant_for_activation(text)": "account activation, before any tenant is set",
    "auth_tenant_for_refresh_token(text)": "token refresh, before any tenant is set",
    "auth_tenant_for_api_key(text)": "API-key authentication, before any tenant is set",
    "auth_tenant_for_password_reset(text)": "password reset with an emailed token, before any tenant is set",
    "defer_tenant_job(character varying,character varying,text,text,jsonb)": (
        "the API queues jobs for the transaction's tenant only; the queue tables stay closed"
    ),
    "defer_tenant_job_at(character varying,character varying,text,text,jsonb,timestamp with time zone)": (
        "the same, run at a time (an alert's delivery after its quiet hours)"
    ),
    "live_worker_count(interval)": "readiness counts workers with a recent heartbeat, nothing else",
    "rate_limit_cleanup()": "the rate limiter removes counters older than a day; the role has no DELETE",
}
# What the application role may hold in the procrastinate schema (nothing: the worker role's).
APP_QUEUE_PRIVILEGES: set[str] = set()
OUR_SCHEMAS = ("public", "procrastinate")
TABLE_PRIVILEGES = ("select", "insert", "update", "delete", "truncate", "references", "trigger")

_OUR_FUNCTIONS = (
    "select p.oid::regprocedure::text as signature, p.prosecdef, p.proconfig, "
    "  has_function_privilege(:app, p.oid, 'execute') as app_executes, "
    "  exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a "
    "          where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public_executes, "
    "  exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid "
    "          and d.deptype = 'e') as from_extension "
    "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
    "where n.nspname = any(:schemas)"
)


async def _our_functions(engine: AsyncEngine, app_role: str) -> list[Any]:
    return await query_rows(engine, _OUR_FUNCTIONS, app=app_role, schemas=list(OUR_SCHEMAS))


async def test_app_role_executes_only_allowlisted_functions(
    owner_engine: AsyncEngine, database_urls: DatabaseUrls
) -> None:
    functions = await _our_functions(owner_engine, database_urls.app_role)
    assert any("procrastinate_defer_jobs_v1" in f.signature for f in functions)
    # Extension functions (pgvector's operators, TimescaleDB's) are the server's C code, run as
    # the caller; they are needed to use the types. None of them may be SECURITY DEFINER.
    assert [f.signature for f in functions if f.from_extension and f.prosecdef] == []
    ours = [f for f in functions if not f.from_extension]
    executable = {f.signature for f in ours if f.app_executes}
    assert executable == set(APP_EXECUTABLE)
    assert [f.signature for f in ours if f.public_executes] == []


async def test_every_security_definer_function_has_a_fixed_search_path(owner_engine: AsyncEngine) -> None:
    rows = await query_rows(
        owner_engine,
        "select p.oid::regprocedure::text as signature from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace "
        "where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema') "
        "and not exists (select from unnest(p.proconfig) c where c like 'search_path=%')",
    )
    assert [row.signature for row in rows] == []


async def test_app_role_holds_nothing_in_the_queue_schema_beyond_the_allowlist(
    owner_engine: AsyncEngine, database_urls: DatabaseUrls
) -> None:
    tables = (
        "select c.relname || ':' || p.privilege from pg_class c "
        "cross join unnest(cast(:privileges as text[])) as p(privilege) "
        "where c.relnamespace = 'procrastinate'::regnamespace and c.relkind in ('r', 'p', 'v', 'm') "
        "and has_table_privilege(:app, c.oid, p.privilege)"
    )
    async with owner_engine.connect() as connection:
        held = set(
            (
                await connection.execute(
                    text(tables), {"app": database_urls.app_role, "privileges": list(TABLE_PRIVILEGES)}
                )
            ).scalars()
        )
        held |= set(
            (
                await connection.execute(
                    text(
                        "select c.relname || ' (sequence)' from pg_class c "
                        "where c.relnamespace = 'procrastinate'::regnamespace and c.relkind = 'S' "
                        "and (has_sequence_privilege(:app, c.oid, 'usage') "
                        "     or has_sequence_privilege(:app, c.oid, 'update'))"
                    ),
                    {"app": database_urls.app_role},
                )
            ).scalars()
        )
        for privilege in ("usage", "create"):
            if await connection.scalar(
                text("select has_schema_privilege(:app, 'procrastinate', :privilege)"),
                {"app": database_urls.app_role, "privilege": privilege},
            ):
                held.add(f"schema:{privilege}")
    assert held == APP_QUEUE_PRIVILEGES


async def test_functions_the_owner_creates_later_are_not_executable_by_public(
    owner_engine: AsyncEngine, database_urls: DatabaseUrls
) -> None:
    async with owner_engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(
            text("create function public.probe_default_privileges() returns int language sql as 'select 1'")
        )
        allowed = await connection.scalar(
            text("select has_function_privilege(:app, 'public.probe_default_privileges()', 'execute')"),
            {"app": database_urls.app_role},
        )
        await transaction.rollback()
    assert allowed is False


async def _queue_jobs_of(owner_engine: AsyncEngine, *tenants: uuid.UUID) -> None:
    # Inserted as the owner (the queue's owner): the fixture does not depend on the grants under test.
    async with owner_engine.begin() as connection:
        for tenant in tenants:
            await connection.execute(
                text(
                    "insert into procrastinate.procrastinate_jobs (queue_name, task_name, args) "
                    "values ('isolation-test', 'tests.never_run', cast(:args as jsonb))"
                ),
                {"args": json.dumps({"tenant_id": str(tenant), "job_id": str(uuid.uuid4()), "payload": {}})},
            )


async def _as_app(app_engine: AsyncEngine, tenant: uuid.UUID | None, statement: str, **params: Any) -> Any:
    async with app_engine.begin() as connection:
        if tenant is not None:
            await connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
        return (await connection.execute(text(statement), params)).all()


@pytest.mark.parametrize("tenant_set", [True, False], ids=["tenant-a-set", "no-tenant"])
async def test_app_role_can_neither_read_nor_update_queued_jobs(
    app_engine: AsyncEngine, owner_engine: AsyncEngine, tenant_set: bool
) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    await _queue_jobs_of(owner_engine, tenant_a, tenant_b)
    current = tenant_a if tenant_set else None
    for statement in (
        "select args from procrastinate.procrastinate_jobs where args->>'tenant_id' = :b",
        "update procrastinate.procrastinate_jobs set status = 'cancelled' where args->>'tenant_id' = :b "
        "returning id",
        "select job_id from procrastinate.procrastinate_events",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            await _as_app(app_engine, current, statement, b=str(tenant_b))


async def test_app_role_queues_jobs_only_for_its_own_tenant(
    app_engine: AsyncEngine, worker_engine: AsyncEngine
) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    defer = (
        "select defer_tenant_job('isolation-test', 'tests.never_run', :lock, :lock, "
        "cast(:args as jsonb)) as id"
    )

    def args(tenant: uuid.UUID) -> str:
        return json.dumps({"tenant_id": str(tenant), "job_id": str(uuid.uuid4()), "payload": {}})

    [row] = await _as_app(app_engine, tenant_a, defer, lock=f"{tenant_a}:thing", args=args(tenant_a))
    refused = [
        (tenant_a, None, args(tenant_b)),  # a job carrying another tenant
        (None, None, args(tenant_b)),  # no tenant set
        (tenant_a, f"{tenant_b}:thing", args(tenant_a)),  # taking another tenant's lock
    ]
    for current, lock, job_args in refused:
        with pytest.raises(DBAPIError, match="tenant"):
            await _as_app(app_engine, current, defer, lock=lock, args=job_args)
    async with worker_engine.begin() as connection:
        queued = await connection.execute(
            text(
                "delete from procrastinate.procrastinate_jobs "
                "where args->>'tenant_id' = any(:tenants) returning id, args->>'tenant_id' as tenant"
            ),
            {"tenants": [str(tenant_a), str(tenant_b)]},
        )
        assert [(job.id, job.tenant) for job in queued] == [(row.id, str(tenant_a))]


async def test_app_role_cannot_list_due_connector_sources_but_the_worker_can(
    app_engine: AsyncEngine, worker_engine: AsyncEngine
) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        await _as_app(app_engine, None, "select * from connector_due_sources(now())")
    async with worker_engine.connect() as connection:
        await connection.execute(text("select * from connector_due_sources(now())"))


async def test_live_worker_count_is_all_the_app_role_learns_about_workers(app_engine: AsyncEngine) -> None:
    [row] = await _as_app(app_engine, None, "select live_worker_count(interval '1 minute') as live")
    assert row.live >= 0
    with pytest.raises(DBAPIError, match="permission denied"):
        await _as_app(app_engine, None, "select id from procrastinate.procrastinate_workers")
