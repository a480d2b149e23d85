"""The TimescaleDB branch cannot run here (no extension): the real migration's SQL is rendered and
parsed, and the plain path is checked."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType

import pglast
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.services.metrics.timescale import apply_retention, retention_statements
from backend.utils.migrations import alembic_config

VERSIONS = Path(__file__).resolve().parents[3] / "alembic" / "versions"
HYPERTABLE_REVISION = "20261126_01"


def _revision(revision: str) -> ModuleType:
    """The revision module as Alembic loads it (its sys.path holds the migration kit)."""
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    assert script is not None and script.module is not None
    return script.module


def _upgrade_sql_with_timescaledb(monkeypatch: pytest.MonkeyPatch) -> str:
    """The SQL the revision's own ``upgrade()`` runs on a server with TimescaleDB (offline mode)."""
    module = _revision(HYPERTABLE_REVISION)
    monkeypatch.setattr(module, "_timescaledb_installed", lambda: True)
    monkeypatch.setattr(module, "_require_extension", lambda name: None)
    rendered = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": rendered}
    )
    with Operations.context(context):
        module.upgrade()
    return rendered.getvalue()


@pytest.mark.parametrize("days", [0, 30, 3650])
def test_retention_sql_parses(days: int) -> None:
    statements = retention_statements(days)
    assert len(statements) == (1 if days == 0 else 2)
    for statement in statements:
        pglast.parse_sql(statement)  # raises ParseError on a syntax error


def test_the_migration_makes_business_metrics_a_hypertable_with_sql_that_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sql = _upgrade_sql_with_timescaledb(monkeypatch)
    statements = [raw.stmt for raw in pglast.parse_sql(sql)]  # raises ParseError on a syntax error
    calls = [s for s in sql.split(";") if "create_hypertable" in s]
    assert len(statements) > 1 and len(calls) == 1
    (call,) = pglast.parse_sql(calls[0])
    function = call.stmt.targetList[0].val
    assert ".".join(name.sval for name in function.funcname) == "create_hypertable"
    assert function.args[0].val.sval == "business_metrics"


async def test_the_hypertable_time_column_is_in_every_unique_index(owner_engine: AsyncEngine) -> None:
    """TimescaleDB refuses unique indexes without the partitioning column; later revisions keep it."""
    async with owner_engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select i.indexrelid::regclass::text, array_agg(a.attname::text) from pg_index i "
                "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
                "where i.indrelid = 'business_metrics'::regclass and i.indisunique group by 1"
            )
        )
        unique = dict(rows.all())
    assert unique and all("ts" in columns for columns in unique.values()), unique


def test_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError):
        retention_statements(-1)


async def test_without_timescaledb_retention_is_a_no_op(owner_engine: AsyncEngine) -> None:
    async with owner_engine.begin() as connection:
        assert await apply_retention(connection, 30) is False
