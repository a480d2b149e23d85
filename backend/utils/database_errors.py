"""Telling a lost database apart from a rejected statement.

A connection-level failure (PostgreSQL refused, reset or timed out the connection, is shutting
down or restarting, or dropped a pooled connection) is worth retrying once it is back: the
API answers 503 with Retry-After, the pool reconnects, the worker waits and restarts. Any
other database error is a bug or bad data, and stays what it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import psycopg
import psycopg_pool
from sqlalchemy import exc as sa_exc


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached (refused, timed out, shutting down): retry later."""


# SQLSTATEs of a server that is going away or not accepting connections (class 08 is every
# "connection exception"): admin/crash shutdown, cannot connect now, too many connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, the driver error it wraps, and what caused those (bounded)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < 16:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [current.__context__, current.__cause__, orig if isinstance(orig, BaseException) else None]


def _is_connection_level(error: BaseException) -> bool:
    if isinstance(error, DatabaseUnavailable | sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # our connect failures, a pool timeout, a connection dropped at checkout
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, asyncpg.ConnectionDoesNotExistError | asyncpg.exceptions.InternalClientError):
        return True  # the socket went away mid-operation, or the protocol is stuck after it did
    if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
        return True
    # psycopg (the job queue's driver): a client-side connection failure has no SQLSTATE.
    if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
        return True
    if isinstance(error, psycopg_pool.PoolTimeout):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES)


def is_connection_failure(error: BaseException) -> bool:
    """Did ``error`` come from losing (or never getting) a connection to PostgreSQL, as opposed to
    a statement the database rejected? Such a request is worth retrying once it is back."""
    return any(_is_connection_level(cause) for cause in _causes(error))
