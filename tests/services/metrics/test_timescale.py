"""The TimescaleDB branch cannot run here (no extension): its SQL is parsed, and the plain path is checked."""

from __future__ import annotations

import pglast
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.services.metrics.timescale import apply_retention, retention_statements


@pytest.mark.parametrize("days", [0, 30, 3650])
def test_retention_sql_parses(days: int) -> None:
    statements = retention_statements(days)
    assert len(statements) == (1 if days == 0 else 2)
    for statement in statements:
        pglast.parse_sql(statement)  # raises ParseError on a syntax error


def test_hypertable_sql_of_the_migration_parses() -> None:
    pglast.parse_sql(
        "select create_hypertable('business_metrics', by_range('ts', interval '7 days'), "
        "create_default_indexes => false, migrate_data => true)"
    )


def test_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError):
        retention_statements(-1)


async def test_without_timescaledb_retention_is_a_no_op(owner_engine: AsyncEngine) -> None:
    async with owner_engine.begin() as connection:
        assert await apply_retention(connection, 30) is False
