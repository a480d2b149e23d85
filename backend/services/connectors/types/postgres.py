"""An external PostgreSQL: one read-only query returning ``ts, metric, value[, dims]``.

The query runs in a READ ONLY transaction with a statement timeout, on a connection of
its own (asyncpg). Columns beyond ``ts, metric, value`` are dimensions (a ``dims`` JSON
object column is spread into dimensions). Incremental: when ``incremental`` is on, the
query receives the largest ``ts`` seen so far as ``$1`` (0001-01-01 UTC the first time),
e.g. ``select day as ts, 'revenue' as metric, total as value from sales where day >= $1``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from pydantic import Field

from backend.services.connectors.base import Check, ConfigModel, ConnectorType, SyncContext, SyncOutcome
from backend.services.connectors.http import ConnectorError, check_address_allowed
from backend.services.connectors.mapping import (
    MAX_REPORTED_PROBLEMS,
    RecordProblem,
    make_point,
    parse_number,
    parse_timestamp,
)
from backend.services.errors import Problem
from backend.services.metrics.points import Point

REQUIRED_COLUMNS = ("ts", "metric", "value")
CONNECT_TIMEOUT_SECONDS = 10
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)


class PostgresConfig(ConfigModel):
    query: str = Field(
        min_length=10, max_length=20_000, description="A SELECT returning ts, metric, value[, …]."
    )
    incremental: bool = Field(default=False, description="Pass the last synced ts to the query as $1.")


class PostgresCredentials(ConfigModel):
    dsn: str = Field(description="postgresql://user:password@host:5432/database (a read-only role is best).")


def _safe_error(error: BaseException) -> str:
    # asyncpg messages never echo the DSN; keep only the first line.
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]


class _Connection:
    def __init__(self, context: SyncContext) -> None:
        self.context = context
        self.connection: Any = None

    async def __aenter__(self) -> Any:
        dsn = self.context.credentials.dsn
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConnectorError("the DSN must start with postgresql://", code="invalid_credentials")
        if not self.context.settings.allow_private_networks and parts.hostname:
            await check_address_allowed(parts.hostname, parts.port or 5432)
        try:
            self.connection = await asyncpg.connect(
                dsn,
                timeout=CONNECT_TIMEOUT_SECONDS,
                statement_cache_size=0,
                server_settings={
                    "application_name": "dyocense-connector",
                    "default_transaction_read_only": "on",
                    "statement_timeout": str(self.context.settings.postgres_statement_timeout_ms),
                },
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            raise ConnectorError(
                f"cannot connect to the database: {_safe_error(error)}",
                code="upstream_unreachable",
                retryable=not isinstance(
                    error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
                ),
            ) from error
        return self.connection

    async def __aexit__(self, *exc_info: object) -> None:
        if self.connection is not None:
            await self.connection.close()


def _arguments(config: PostgresConfig, cursor: dict[str, Any]) -> list[Any]:
    if not config.incremental:
        return []
    watermark = cursor.get("watermark")
    return [datetime.fromisoformat(watermark) if watermark else BEGINNING]


def _check_columns(names: list[str]) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise ConnectorError(
            f"the query must return columns ts, metric and value; missing {', '.join(missing)}",
            code="invalid_query",
            context={"columns": names},
        )


class PostgresConnector(ConnectorType):
    name = "postgres"
    title = "PostgreSQL query"
    description = "A read-only SQL query against your PostgreSQL returning ts, metric, value[, dimensions]."
    config_model = PostgresConfig
    credentials_model = PostgresCredentials

    async def test(self, context: SyncContext) -> list[Check]:
        async with _Connection(context) as connection:
            checks = [Check("connected", True, "connected; the session is read-only")]
            try:
                statement = await connection.prepare(context.config.query)
            except asyncpg.PostgresError as error:
                raise ConnectorError(
                    f"the query does not compile: {_safe_error(error)}", code="invalid_query"
                ) from error
            _check_columns([attribute.name for attribute in statement.get_attributes()])
            checks.append(Check("query", True, "the query compiles and returns ts, metric, value"))
            return checks

    async def sync(self, context: SyncContext, cursor: dict[str, Any]) -> SyncOutcome:
        config: PostgresConfig = context.config
        arguments = _arguments(config, cursor)
        async with _Connection(context) as connection:
            try:
                async with connection.transaction(readonly=True):
                    statement = await connection.prepare(config.query)
                    _check_columns([attribute.name for attribute in statement.get_attributes()])
                    rows = await statement.fetch(*arguments)
            except asyncpg.QueryCanceledError as error:
                raise ConnectorError(
                    f"the query ran longer than {context.settings.postgres_statement_timeout_ms} ms "
                    "and was cancelled",
                    code="query_timeout",
                ) from error
            except asyncpg.PostgresError as error:
                raise ConnectorError(
                    f"the query failed: {_safe_error(error)}", code="invalid_query"
                ) from error
        points: list[Point] = []
        problems: list[Problem] = []
        watermark: datetime | None = None
        for number, row in enumerate(rows, start=1):
            try:
                ts = parse_timestamp(
                    row["ts"].isoformat() if isinstance(row["ts"], datetime) else row["ts"], context.zone
                )
                dimensions: dict[str, str] = {}
                for key, value in row.items():
                    if key in REQUIRED_COLUMNS or value is None:
                        continue
                    if key == "dims":
                        loaded = json.loads(value) if isinstance(value, str) else value
                        dimensions.update({str(k): str(v) for k, v in dict(loaded).items() if v is not None})
                    else:
                        dimensions[key] = str(value)
                points.append(make_point(str(row["metric"]), ts, parse_number(row["value"]), dimensions))
                watermark = ts if watermark is None else max(watermark, ts)
            except (RecordProblem, TypeError, ValueError) as problem:
                if len(problems) < MAX_REPORTED_PROBLEMS:
                    problems.append(Problem.cell(number, None, str(problem), code="unmappable_row"))
        if problems:
            raise ConnectorError(
                "some rows could not be mapped to points; nothing was written",
                code="invalid_data",
                problems=problems,
            )
        new_cursor = dict(cursor)
        if watermark is not None:
            new_cursor["watermark"] = watermark.isoformat()
        return SyncOutcome(points=points, cursor=new_cursor, records_read=len(rows))
