"""Database plumbing: the engine, tenant-scoped sessions, and the safety checks.

Row-level security needs the tenant id in ``app.tenant_id`` for every transaction. The
session kit puts the tenant in ``session.info`` and an ``after_begin`` hook sets
``set_config('app.tenant_id', tid, true)`` on every transaction the session begins —
transaction-local, so nothing leaks through the pool, and set again after a mid-request
commit. A tenant session without a tenant refuses to begin: it fails loudly instead of
quietly seeing nothing.

The setting travels with the transaction's ``BEGIN`` (``TenantConnection``): one round trip
to PostgreSQL where a ``BEGIN`` and then a ``select set_config(...)`` took two, on every
request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from backend.config import DatabasePooler, DatabaseSettings
from backend.utils.database_errors import DatabaseUnavailable, is_connection_failure
from backend.utils.observability import driver_statement

TENANT_INFO_KEY = "tenant_id"
# The tenant's time zone, read along with the caller in the request's first query.
TENANT_ZONE_INFO_KEY = "tenant_zone"


class TenantContextMissing(RuntimeError):
    """A tenant-scoped session began a transaction without a tenant (a programming error)."""


class UnsafeDatabaseRole(RuntimeError):
    """The application role could bypass row-level security; the app refuses to serve."""


class TenantScopedSession(Session):
    """The sync session behind every ``AsyncSession`` the app hands out."""


@event.listens_for(TenantScopedSession, "after_begin")
def _set_tenant_for_transaction(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    tenant_id = session.info.get(TENANT_INFO_KEY)
    if tenant_id is None:
        raise TenantContextMissing("a tenant-scoped session was used without a tenant id")
    tenant = str(uuid.UUID(str(tenant_id)))
    driver = connection.connection.driver_connection
    # The driver sends BEGIN lazily, with the transaction's first statement: until then the
    # tenant can ride along with it.
    if isinstance(driver, TenantConnection) and not driver.is_in_transaction():
        driver.set_tenant_for_next_begin(tenant)
        return
    # exec_driver_sql: runs on every transaction, and skips the statement compile/cache work.
    connection.exec_driver_sql("select set_config('app.tenant_id', $1, true)", (tenant,))


class TenantConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships no types
    """An asyncpg connection that sends the tenant setting in the same message as ``BEGIN``.

    ``set_tenant_for_next_begin`` arms it; the next ``BEGIN`` the driver sends (SQLAlchemy's
    adapter starts its transaction right before the first statement) goes out as
    ``BEGIN; select set_config('app.tenant_id', '<uuid>', true)`` in one simple-protocol
    message, and disarms it. The tenant is inlined as a literal: it is the canonical text of
    a ``uuid.UUID``, hex digits and dashes only. The pool disarms a connection when it comes
    back (``_disarm_on_checkin``), so a tenant armed for a transaction that never sent a
    statement cannot reach the connection's next user.
    """

    _tenant_for_next_begin: str | None = None

    def set_tenant_for_next_begin(self, tenant: str) -> None:
        self._tenant_for_next_begin = str(uuid.UUID(tenant))

    def disarm(self) -> None:
        self._tenant_for_next_begin = None

    # The signature is asyncpg's own (Transaction.start calls it).
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        tenant = self._tenant_for_next_begin
        if tenant is not None and not args and query.startswith("BEGIN"):
            self._tenant_for_next_begin = None
            query = f"{query} select set_config('app.tenant_id', '{tenant}', true);"
        status: str = await super().execute(query, *args, timeout=timeout)
        return status


def _disarm_on_checkin(engine: AsyncEngine) -> None:
    """A pooled connection returns with no tenant waiting for its next ``BEGIN``."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _disarm(dbapi_connection: Any, record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if isinstance(driver, TenantConnection):
            driver.disarm()


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """Hand out only live connections, without a round trip per checkout.

    ``pool_pre_ping`` would cost three round trips on every request (asyncpg's ping runs in
    its own transaction). A connection the server closed (a restart, a failover, an admin's
    ``pg_terminate_backend``) is already marked closed by the driver once its socket saw the
    end; ``InvalidatePoolError`` makes the pool reconnect it and recycle every connection as
    old as it at its next checkout: after a restart they are all dead, and none of them is
    tried. A connection that dies unseen fails its statement, and the pool is invalidated then
    (``_treat_connection_failures_as_disconnects``).
    """

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise sa_exc.InvalidatePoolError("the server closed this pooled connection")


def _treat_connection_failures_as_disconnects(engine: AsyncEngine) -> None:
    """A statement that fails because the connection is gone invalidates the whole pool.

    SQLAlchemy's asyncpg dialect only counts a failure as a disconnect when the driver already
    marked the socket closed; a server's "terminating connection" error or a protocol left
    mid-operation can arrive first. Either way every pooled connection is as dead as this one.
    """

    @event.listens_for(engine.sync_engine, "handle_error")
    def _classify(context: ExceptionContext) -> None:
        if not context.is_disconnect and is_connection_failure(context.original_exception):
            context.is_disconnect = True


def _unreachable_is_unavailable(engine: AsyncEngine) -> None:
    """A refused, reset or timed-out connection attempt raises ``DatabaseUnavailable``.

    The driver raises a bare ``OSError``/``TimeoutError`` there, which says nothing about
    where it came from; the API answers ``DatabaseUnavailable`` with 503 + Retry-After.
    """

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as error:  # TimeoutError is an OSError too
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {type(error).__name__}") from error


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


def _connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """asyncpg's connection options; behind PgBouncer in transaction mode, none it cannot carry.

    There consecutive transactions of one client run on different server connections: a cached
    prepared statement would be missing on the next one, and asyncpg's ``__asyncpg_stmt_N__``
    names would collide between clients sharing one. So both statement caches are off, SQLAlchemy
    names each statement uniquely, and asyncpg's own statements are unnamed (each lives within
    its transaction). PgBouncer 1.18 refuses unknown startup parameters: statement_timeout and
    jit come from its ``connect_query`` instead.
    """
    behind_pooler = settings.pooler is DatabasePooler.PGBOUNCER_TRANSACTION
    server_settings = {"application_name": "dyocense-backend"}
    if not behind_pooler:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
        # Prepared plans and JIT cost more than they save on our short OLTP queries.
        server_settings["jit"] = "off"
    arguments: dict[str, Any] = {
        # asyncpg's default is 60 s: a request would hang that long on an unreachable server.
        "timeout": settings.connect_timeout_seconds,
        "connection_class": TenantConnection,
        "server_settings": server_settings,
    }
    if behind_pooler:
        arguments.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unique_statement_name,
        )
    return arguments


class Database:
    """One PostgreSQL: the engine, the session factory and the checks the app runs at startup."""

    def __init__(self, url: str, settings: DatabaseSettings) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_seconds,
            echo=settings.echo,
            connect_args=_connect_args(settings),
        )
        _discard_closed_connections(self.engine)
        _disarm_on_checkin(self.engine)
        _treat_connection_failures_as_disconnects(self.engine)
        _unreachable_is_unavailable(self.engine)
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, autoflush=True, sync_session_class=TenantScopedSession
        )

    def session(self, tenant_id: uuid.UUID) -> AsyncSession:
        """A new session bound to ``tenant_id``; the caller owns its transaction."""
        session = self._sessions()
        session.info[TENANT_INFO_KEY] = tenant_id
        return session

    @asynccontextmanager
    async def tenant_session(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A unit of work for one tenant: commits when the block succeeds, rolls back otherwise."""
        async with self.session(tenant_id) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def system_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection with no tenant: for credential lookups, rate limits and health checks.

        Tenant tables show no rows here (RLS sees no tenant); it commits on success.
        """
        async with self.engine.begin() as connection:
            yield connection

    async def verify_role_is_safe(self) -> None:
        """Refuse to serve as a role that bypasses RLS or owns the tables it should be fenced by."""
        async with self.engine.connect() as connection:
            role = (
                await connection.execute(
                    text(
                        "select current_user as name, rolsuper, rolbypassrls "
                        "from pg_roles where rolname = current_user"
                    )
                )
            ).one()
            owned = await connection.scalar(
                text(
                    "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname in (current_schema(), 'procrastinate') and c.relkind in ('r', 'p') "
                    "and pg_get_userbyid(c.relowner) = current_user"
                )
            )
        problems = []
        if role.rolsuper:
            problems.append("is a superuser")
        if role.rolbypassrls:
            problems.append("has BYPASSRLS")
        if owned:
            problems.append(
                f"owns {owned} table(s) (row-level security does not bind table owners by default)"
            )
        if problems:
            raise UnsafeDatabaseRole(
                f"database role {role.name!r} {', '.join(problems)}; connect the API as the application "
                "role and job workers as the worker role (NOSUPERUSER, NOBYPASSRLS, not the owner)"
            )

    async def migration_revision(self) -> str | None:
        """The revision recorded in ``alembic_version``, or None when the schema was never migrated."""
        async with self.engine.connect() as connection:
            exists = await connection.scalar(text("select to_regclass('alembic_version') is not null"))
            if not exists:
                return None
            result: Any = await connection.scalar(text("select version_num from alembic_version"))
            return str(result) if result is not None else None

    async def ping(self) -> None:
        """One round trip; raises when PostgreSQL cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("select 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


async def driver_fetch(
    session: AsyncSession, statement: str, *args: Any, record_class: type[Any] | None = None
) -> list[Any]:
    """Run ``statement`` ($1, $2, … parameters) on the session's asyncpg connection, in its
    transaction (so under its tenant), and return asyncpg records.

    For hot paths whose rows SQLAlchemy would only slow down; the statement is still timed
    and traced. Note that json/jsonb columns come back as text here.
    """
    async with _driver(session, statement) as driver:
        records: list[Any] = await driver.fetch(statement, *args, record_class=record_class)
    return records


async def driver_copy(
    session: AsyncSession, table: str, columns: Sequence[str], records: Iterable[tuple[Any, ...]]
) -> None:
    """COPY ``records`` into ``table`` (binary, in the session's transaction): for a temporary
    staging table of a big write, far cheaper than any parameter or JSON encoding of the rows."""
    async with _driver(session, f"copy {table}") as driver:
        await driver.copy_records_to_table(table, columns=list(columns), records=records)


@asynccontextmanager
async def _driver(session: AsyncSession, statement: str) -> AsyncIterator[Any]:
    """The session's asyncpg connection inside its transaction, with the statement timed and traced."""
    connection = await session.connection()  # begins the session's transaction
    raw: Any = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN (carrying the tenant) with the first
        # statement that passes through it; this one does not, so have the adapter begin now.
        await raw.dbapi_connection._start_transaction()
    try:
        with driver_statement(connection.engine.url, statement):
            yield driver
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError) as error:
        # Past SQLAlchemy: tell the pool ourselves that this connection is gone.
        if is_connection_failure(error):
            await connection.invalidate(error)
        raise


def session_tenant(session: AsyncSession) -> uuid.UUID:
    """The tenant a session is bound to (repositories add it as a second fence to every query)."""
    tenant_id = session.info.get(TENANT_INFO_KEY)
    if tenant_id is None:
        raise TenantContextMissing("session has no tenant")
    return uuid.UUID(str(tenant_id))
