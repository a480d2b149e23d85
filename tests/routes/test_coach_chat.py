"""Coach chat over HTTP (offline mode): sessions, Server-Sent Events, validation and tenant isolation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.agents.numbers import unbacked
from tests.agents.seed import seed_inventory, seed_monthly
from tests.factories import TenantContext, create_tenant
from tests.sse import STREAM, delta_text, post_stream

CHAT = "/api/v1/coach/chat"


async def chat(
    client: httpx.AsyncClient, tenant: TenantContext, message: str, **extra: Any
) -> httpx.Response:
    return await client.post(CHAT, headers=tenant.headers, json={"message": message, **extra})


async def test_chat_starts_a_session_and_continues_it(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1040, 1080, 1130, 1170, 1220])
    first = await chat(client, tenant, "Hello")
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    second = await chat(client, tenant, "Grow revenue 10% this year", session_id=session_id)
    assert second.status_code == 200 and second.json()["session_id"] == session_id
    detail = (await client.get(f"/api/v1/coach/sessions/{session_id}", headers=tenant.headers)).json()
    assert detail["title"] == "Hello"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "tool", "assistant"]
    answer = detail["messages"][-1]
    assert answer["content"] == second.json()["reply"]
    assert answer["details"]["citations"] == second.json()["citations"]
    assert json.loads(detail["messages"][3]["content"])["agent"] == "goal_planner"


async def test_stream_sends_progress_then_deltas_then_the_final_answer(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_inventory(client, tenant)
    stream = await post_stream(client, tenant.headers, "How much stock should I reorder this week?")
    events = stream.events
    kinds = stream.names
    first_delta = kinds.index("delta")
    assert kinds[:6] == ["session", "memory", "classification", "agent", "tool", "agent"]
    assert set(kinds[first_delta:-1]) == {"delta"} and kinds[-1] == "final"
    assert events[3].data == {"agent": "optimizer", "status": "started", "arguments": {}}
    assert events[5].data["agent"] == "optimizer" and events[5].data["status"] == "ok"
    final = events[-1].data
    assert delta_text(events) == final["reply"]
    assert final["agents"] == ["optimizer"] and final["citations"] and final["usage"]["provider"] == "offline"
    assert unbacked(final["reply"], final["citations"]) == []
    # The turn was committed in its own unit of work before the final event.
    detail = await client.get(f"/api/v1/coach/sessions/{final['session_id']}", headers=tenant.headers)
    assert detail.json()["messages"][-1]["content"] == final["reply"]
    assert (await client.get("/api/v1/optimizer/runs", headers=tenant.headers)).json()["total"] == 1


async def test_message_must_not_be_empty(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    assert (await chat(client, tenant, "")).status_code == 422
    assert (await client.post(STREAM, headers=tenant.headers, json={})).status_code == 422


async def test_another_tenants_session_is_not_found(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    other = await create_tenant(client)
    session_id = (await chat(client, owner, "Hello")).json()["session_id"]
    assert (await chat(client, other, "Hello", session_id=session_id)).status_code == 404
    streamed = await client.post(
        STREAM, headers=other.headers, json={"message": "Hi", "session_id": session_id}
    )
    assert streamed.status_code == 404
    assert (await chat(client, other, "Hello", session_id=str(uuid.uuid4()))).status_code == 404
    detail = (await client.get(f"/api/v1/coach/sessions/{session_id}", headers=owner.headers)).json()
    assert len(detail["messages"]) == 2


async def test_a_chat_never_reads_another_tenants_data_or_memory(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    other = await create_tenant(client)
    await seed_monthly(client, owner, "revenue", [1000, 1040, 1080, 1130, 1170, 1220])
    owners = await chat(client, owner, "Grow revenue 20% this year")
    assert owners.json()["agents"] == ["goal_planner"] and owners.json()["citations"]

    response = await chat(client, other, "Grow revenue 20% this year")
    body = response.json()
    # The other tenant has no data: no agent runs, and the answer says how to connect some.
    assert body["agents"] == []
    assert body["citations"] == [] and "You have no data yet" in body["reply"]
    assert "1,220" not in body["reply"]
    # The same question was asked by the other tenant, yet nothing of theirs is recalled.
    assert body["recalled"] == []
    assert (await client.get("/api/v1/coach/sessions", headers=other.headers)).json()["total"] == 1
