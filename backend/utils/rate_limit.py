"""Rate limits kept in PostgreSQL, so every API process shares the counts.

Two shapes, both keyed by an HMAC hash (no raw emails or IPs in the tables):

- fixed windows (``rate_limit_counters``): ``hit`` counts every call; a ``Window`` can
  also be read along with another query and counted only on failure (``count``);
- backoff (``rate_limit_backoff``): consecutive failures of one key, with a block that
  doubles with each failure past a free allowance (``fail`` / ``peek`` / ``clear``).

Each hit is one statement in its own short transaction, so a hit counts even when the
request it guards fails. The application role cannot delete rows (it could reset its own
limits); old rows go through the ``rate_limit_cleanup()`` SECURITY DEFINER function.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from backend.services.errors import RateLimited
from backend.utils.database import Database
from backend.utils.security import hash_rate_limit_key

_CLEANUP_PROBABILITY = 0.01
_MAX_DOUBLINGS = 30  # 2**30 base periods is past any sane cap; keeps power() finite

_COUNT = text(
    "insert into rate_limit_counters (key_hash, window_start, hits) values (:key, :window, 1) "
    "on conflict (key_hash, window_start) do update set hits = rate_limit_counters.hits + 1 "
    "returning hits"
)

# Failures restart from 1 once the key has been quiet for ``reset`` seconds.
_FAILURES = (
    "case when b.last_failure_at < now() - make_interval(secs => cast(:reset as float8)) "
    "then 1 else b.failures + 1 end"
)


def _blocked_until(failures: str) -> str:
    doublings = f"least({failures} - cast(:free as integer) - 1, {_MAX_DOUBLINGS})"
    return (
        f"case when {failures} > cast(:free as integer) then now() + make_interval(secs => "
        f"least(cast(:cap as float8), cast(:base as float8) * power(2, {doublings}))) end"
    )


# Built from the constant fragments above; every value is a bound parameter.
_FAIL = text(
    "insert into rate_limit_backoff as b (key_hash, failures, last_failure_at, blocked_until) "  # noqa: S608
    f"values (:key, 1, now(), {_blocked_until('1')}) "
    "on conflict (key_hash) do update set "
    f"failures = {_FAILURES}, last_failure_at = now(), blocked_until = {_blocked_until(_FAILURES)}"
)

_PEEK = text(
    "select b.failures, case when b.blocked_until > now() "
    "then greatest(1, ceil(extract(epoch from b.blocked_until - now())))::int end as retry_after, "
    "c.hits from (select 1) as one "
    "left join rate_limit_backoff b on b.key_hash = :backoff_key "
    "left join rate_limit_counters c on c.key_hash = :window_key and c.window_start = :window_start"
)

_CLEAR = text("update rate_limit_backoff set failures = 0, blocked_until = null where key_hash = :key")


@dataclass(frozen=True)
class Window:
    """The current fixed window of one key: read it with another query, count it on failure."""

    key_hash: str
    start: datetime
    limit: int
    window_seconds: int
    message: str

    def retry_after(self) -> int:
        return max(1, math.ceil(self.start.timestamp() + self.window_seconds - time.time()))

    def refuse(self) -> RateLimited:
        return RateLimited(
            self.message,
            retry_after=self.retry_after(),
            context={"limit": self.limit, "window_seconds": self.window_seconds},
        )

    def check(self, hits: int | None) -> None:
        """Refuse when ``hits`` (read earlier) already used up the window."""
        if hits is not None and hits >= self.limit:
            raise self.refuse()


@dataclass(frozen=True)
class Backoff:
    """How one key backs off: ``free_failures`` without delay, then ``base_seconds`` doubling
    up to ``max_seconds``; ``reset_seconds`` without failures forgets them."""

    scope: str
    free_failures: int
    base_seconds: int
    max_seconds: int
    reset_seconds: int
    message: str


@dataclass(frozen=True)
class BackoffState:
    failures: int
    retry_after: int | None  # seconds while blocked, None when not blocked
    window_hits: int


class RateLimiter:
    def __init__(self, database: Database, secret_key: str) -> None:
        self._database = database
        self._secret_key = secret_key

    def key_hash(self, scope: str, key: str) -> str:
        return hash_rate_limit_key(f"{scope}:{key.lower()}", self._secret_key)

    def window(self, scope: str, key: str, *, limit: int, window_seconds: int, message: str) -> Window:
        start = int(time.time() // window_seconds) * window_seconds
        return Window(
            key_hash=self.key_hash(scope, key),
            start=datetime.fromtimestamp(start, UTC),
            limit=limit,
            window_seconds=window_seconds,
            message=message,
        )

    async def _write(self, statement: Any, parameters: dict[str, Any]) -> Any:
        """Run one write and return its first value (if it returns any)."""
        async with self._database.system_connection() as connection:
            result = await connection.execute(statement, parameters)
            value = result.scalar() if result.returns_rows else None
            if random.random() < _CLEANUP_PROBABILITY:  # noqa: S311 - sampling, not security
                await connection.execute(text("select rate_limit_cleanup()"))
        return value

    async def count(self, window: Window, *, refuse_over_limit: bool = True) -> int:
        """Count one hit; raise ``RateLimited`` once over the limit (unless told not to)."""
        hits = int(await self._write(_COUNT, {"key": window.key_hash, "window": window.start}))
        if refuse_over_limit and hits > window.limit:
            raise window.refuse()
        return hits

    async def hit(self, scope: str, key: str, *, limit: int, window_seconds: int, message: str) -> None:
        """Count one hit of ``key`` in ``scope``; raise ``RateLimited`` once over ``limit``."""
        await self.count(self.window(scope, key, limit=limit, window_seconds=window_seconds, message=message))

    async def peek(self, backoff: Backoff, key: str, window: Window | None) -> BackoffState:
        """One read: the backoff of ``key`` and the hits of ``window`` (if any) so far."""
        async with self._database.system_connection() as connection:
            row = (
                await connection.execute(
                    _PEEK,
                    {
                        "backoff_key": self.key_hash(backoff.scope, key),
                        "window_key": window.key_hash if window else "",
                        "window_start": window.start if window else datetime.fromtimestamp(0, UTC),
                    },
                )
            ).one()
        return BackoffState(
            failures=int(row.failures or 0),
            retry_after=int(row.retry_after) if row.retry_after is not None else None,
            window_hits=int(row.hits or 0),
        )

    async def fail(self, backoff: Backoff, key: str, *, free_failures: int | None = None) -> None:
        """Record a failure of ``key``; past the free allowance it is blocked for a growing time."""
        await self._write(
            _FAIL,
            {
                "key": self.key_hash(backoff.scope, key),
                "free": backoff.free_failures if free_failures is None else free_failures,
                "base": backoff.base_seconds,
                "cap": backoff.max_seconds,
                "reset": backoff.reset_seconds,
            },
        )

    async def clear(self, backoff: Backoff, key: str) -> None:
        await self._write(_CLEAR, {"key": self.key_hash(backoff.scope, key)})
