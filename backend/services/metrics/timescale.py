"""TimescaleDB specifics for ``business_metrics``, and why most of them stay off.

With the extension installed, ``business_metrics`` is a hypertable (revision 01), so
rollups get chunk exclusion on top of the ``(tenant_id, metric, ts)`` index. Row-level
security rules out two features one would otherwise use:

- compression: TimescaleDB refuses it on hypertables with row-level security
  ("cannot enable RLS on hypertables using compression", timescale/timescaledb#6827);
- continuous aggregates: they cannot be built on tables with row-level security
  (timescale/timescaledb#6832).

Tenant isolation at the database comes first, so rollups read the hypertable itself.
Retention is compatible (it drops whole chunks) and is configurable here.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def retention_statements(days: int) -> list[str]:
    """SQL that makes the retention policy exactly ``days`` (0: no policy). Idempotent."""
    if days < 0:
        raise ValueError("retention days cannot be negative")
    statements = ["select remove_retention_policy('business_metrics', if_exists => true)"]
    if days > 0:
        statements.append(
            f"select add_retention_policy('business_metrics', drop_after => interval '{int(days)} days')"
        )
    return statements


async def timescaledb_installed(connection: AsyncConnection) -> bool:
    found = await connection.scalar(text("select count(*) from pg_extension where extname = 'timescaledb'"))
    return bool(found)


async def apply_retention(connection: AsyncConnection, days: int) -> bool:
    """Set the policy as the schema owner; False (and nothing done) without TimescaleDB."""
    if not await timescaledb_installed(connection):
        return False
    for statement in retention_statements(days):
        await connection.execute(text(statement))
    return True
