"""One tenant's metric batches take their turns; other tenants' requests do not wait for them."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from backend.utils.tenant_slots import TenantSlots
from tests.factories import create_tenant


async def test_a_tenants_second_holder_waits_while_another_tenant_goes_on() -> None:
    slots, shop, other = TenantSlots(1), uuid.uuid4(), uuid.uuid4()
    order: list[str] = []
    first_in, release = asyncio.Event(), asyncio.Event()

    async def hold(tenant: uuid.UUID, name: str, until: asyncio.Event | None = None) -> None:
        async with slots.hold(tenant):
            order.append(name)
            if until is not None:
                first_in.set()
                await until.wait()

    first = asyncio.create_task(hold(shop, "shop 1", release))
    await first_in.wait()
    second = asyncio.create_task(hold(shop, "shop 2"))
    await hold(other, "other")  # not held back by the shop's slot
    await asyncio.sleep(0)
    assert order == ["shop 1", "other"] and not second.done()
    release.set()
    await asyncio.gather(first, second)
    assert order == ["shop 1", "other", "shop 2"]
    assert slots.tenants() == 0  # entries go with their last holder


async def test_a_cancelled_waiter_leaves_no_entry_behind() -> None:
    slots, shop = TenantSlots(1), uuid.uuid4()
    async with slots.hold(shop):
        waiter = asyncio.create_task(slots.hold(shop).__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert slots.tenants() == 0


def test_a_slot_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TenantSlots(0)


def _batch(hour: int) -> dict[str, object]:
    ts = datetime(2026, 1, 1, hour, tzinfo=UTC).isoformat()
    return {"points": [{"metric": "revenue", "ts": ts, "value": 1.0}]}


async def test_ingest_waits_for_its_tenants_turn_and_not_for_other_tenants(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, other = await create_tenant(client), await create_tenant(client)
    slots: TenantSlots = app.state.tenant_write_slots
    async with AsyncExitStack() as held:
        for _ in range(app.state.settings.tenant_writes_in_flight):  # every slot of the shop's taken
            await held.enter_async_context(slots.hold(shop.tenant_id))
        waiting = asyncio.create_task(client.post("/api/v1/metrics", headers=shop.headers, json=_batch(1)))
        done, _ = await asyncio.wait({waiting}, timeout=1.0)
        assert not done  # it cannot run while the slots are held, however fast the machine
        answer = await asyncio.wait_for(
            client.post("/api/v1/metrics", headers=other.headers, json=_batch(1)), timeout=60
        )
        assert answer.status_code == 200, answer.text
    written = await asyncio.wait_for(waiting, timeout=60)
    assert written.status_code == 200 and written.json()["inserted"] == 1
    assert slots.tenants() == 0
