"""Which job workers are alive: procrastinate's worker table and its heartbeats.

The application role has no access to the queue schema; ``live_worker_count(interval)``, a
``SECURITY DEFINER`` function of the queue-isolation migration, gives it this count only.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_LIVE_WORKERS = text("select live_worker_count(make_interval(secs => :seconds))")


async def live_worker_count(connection: AsyncConnection, *, heartbeat_within_seconds: float) -> int:
    """Workers whose last heartbeat is at most ``heartbeat_within_seconds`` old.

    The API's one read of the queue's worker table (readiness); a worker that stops cleanly
    removes its row, one that died stops beating and drops out after the window.
    """
    count = await connection.scalar(_LIVE_WORKERS, {"seconds": heartbeat_within_seconds})
    return int(count or 0)
