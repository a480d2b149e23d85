"""The catalog proves the RLS recipe holds for every tenant table, present and future."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.models import GLOBAL_TABLES, Base


async def _tables_with_tenant_id(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select table_name from information_schema.columns "
                "where table_schema = 'public' and column_name = 'tenant_id'"
            )
        )
        return {row.table_name for row in rows}


async def test_every_tenant_table_has_forced_rls_and_a_tenant_policy(owner_engine: AsyncEngine) -> None:
    tenant_tables = await _tables_with_tenant_id(owner_engine) | {"tenants"}
    assert "business_metrics" in tenant_tables and "users" in tenant_tables
    async with owner_engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "select c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "  (select count(*) from pg_policy p where p.polrelid = c.oid "
                    "     and p.polname = 'tenant_isolation' "
                    "     and pg_get_expr(p.polqual, p.polrelid) like '%app.tenant_id%' "
                    "     and pg_get_expr(p.polwithcheck, p.polrelid) like '%app.tenant_id%') as policies "
                    "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = 'public' and c.relname = any(:tables)"
                ),
                {"tables": sorted(tenant_tables)},
            )
        ).all()
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
        "uq_refresh_tokens_token_hash",
        "uq_api_keys_key_hash",
        "ix_coaching_messages_embedding_hnsw",
    }
    tenant_tables = await _tables_with_tenant_id(owner_engine)
    async with owner_engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "select t.relname as table_name, i.relname as index_name, "
                    "  (select a.attname from pg_attribute a where a.attrelid = t.oid "
                    "     and a.attnum = x.indkey[0]) as first_column "
                    "from pg_index x join pg_class i on i.oid = x.indexrelid "
                    "join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace "
                    "where n.nspname = 'public' and t.relname = any(:tables)"
                ),
                {"tables": sorted(tenant_tables)},
            )
        ).all()
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
