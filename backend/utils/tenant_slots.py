"""A bound on each tenant's heavy requests in flight in this process.

One tenant's bulk writes (many clients posting batches at once) could take every pooled
connection of the process, and another tenant's short read waited for a connection. With a
bound, the rest of that tenant's requests wait here, holding no connection, while other tenants'
requests go on. A tenant's ingest rate hardly falls with it: PostgreSQL, not the number of
batches in flight, sets it (README, "Cost as stored points grow", gives the measured figures).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class TenantSlots:
    """Per tenant, at most ``per_tenant`` holders at once; a tenant's entry lives while used."""

    def __init__(self, per_tenant: int) -> None:
        if per_tenant < 1:
            raise ValueError("per_tenant must be at least 1")
        self._per_tenant = per_tenant
        self._slots: dict[uuid.UUID, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, tenant_id: uuid.UUID) -> AsyncIterator[None]:
        semaphore, users = self._slots.setdefault(tenant_id, (asyncio.Semaphore(self._per_tenant), [0]))
        users[0] += 1  # holders and waiters: the entry goes when the last of them leaves
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[tenant_id]

    def tenants(self) -> int:
        """Tenants holding or waiting for a slot now."""
        return len(self._slots)
