"""Fixed-window rate limits kept in PostgreSQL, so every API process shares the counts.

Keys are HMAC-hashed (no raw emails or IPs in the table). Each hit is one upsert in its
own short transaction, so a hit counts even when the request it guards fails.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from sqlalchemy import text

from backend.services.errors import RateLimited
from backend.utils.database import Database
from backend.utils.security import hash_rate_limit_key

_CLEANUP_PROBABILITY = 0.01


class RateLimiter:
    def __init__(self, database: Database, secret_key: str) -> None:
        self._database = database
        self._secret_key = secret_key

    async def hit(self, scope: str, key: str, *, limit: int, window_seconds: int, message: str) -> None:
        """Count one hit of ``key`` in ``scope``; raise ``RateLimited`` once over ``limit``."""
        now = time.time()
        window_start = int(now // window_seconds) * window_seconds
        key_hash = hash_rate_limit_key(f"{scope}:{key.lower()}", self._secret_key)
        async with self._database.system_connection() as connection:
            hits = await connection.scalar(
                text(
                    "insert into rate_limit_counters (key_hash, window_start, hits) "
                    "values (:key, :window, 1) "
                    "on conflict (key_hash, window_start) do update set hits = rate_limit_counters.hits + 1 "
                    "returning hits"
                ),
                {"key": key_hash, "window": datetime.fromtimestamp(window_start, UTC)},
            )
            if random.random() < _CLEANUP_PROBABILITY:  # noqa: S311 - sampling, not security
                await connection.execute(
                    text("delete from rate_limit_counters where window_start < now() - interval '1 day'")
                )
        if hits is not None and hits > limit:
            retry_after = max(1, int(window_start + window_seconds - now))
            raise RateLimited(
                message, retry_after=retry_after, details={"limit": limit, "window_seconds": window_seconds}
            )
