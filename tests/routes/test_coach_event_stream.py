"""The GET coach stream a browser EventSource opens: tickets, event ids, heartbeats, Last-Event-ID."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass

import httpx

from backend.config import Settings
from tests.conftest import app_client
from tests.factories import TenantContext, create_tenant
from tests.services.coach.conftest import llm_settings
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat
from tests.sse import STREAM, SseBody, delta_text, parse_sse

TICKETS = "/api/v1/coach/chat/stream/tickets"


@dataclass
class Stream(SseBody):
    status: int = 0
    content_type: str = ""


async def _ticket(client: httpx.AsyncClient, tenant: TenantContext) -> str:
    response = await client.post(TICKETS, headers=tenant.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stream_url"] == STREAM
    ticket: str = body["ticket"]
    return ticket


async def _open(
    client: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str] | None = None
) -> Stream:
    async with client.stream("GET", STREAM, params=params, headers=headers or {}) as response:
        text = (await response.aread()).decode()
    status, content_type = response.status_code, response.headers.get("content-type", "")
    body = parse_sse(text) if status == 200 else SseBody()
    return Stream(body.events, body.comments, body.raw, status=status, content_type=content_type)


async def test_an_eventsource_style_get_streams_the_answer_with_an_id_on_every_event(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    ticket = await _ticket(client, tenant)
    stream = await _open(client, {"ticket": ticket, "message": "How is revenue doing?"})

    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    names = stream.names
    assert names[0] == "session" and names[-1] == "final" and "delta" in names
    session_id = stream.events[0].data["session_id"]
    ids = [event.id for event in stream.events]
    assert all(i is not None and i.startswith(f"{session_id}:0:") for i in ids)
    assert [int(i.rsplit(":", 1)[1]) for i in ids[:-1]] == list(range(1, len(ids)))
    assert ids[-1] == f"{session_id}:0:end"
    final = stream.events[-1].data
    assert final["reply"] and final["reply"] == delta_text(stream.events)

    # A second question in the same session is turn 1.
    again = await _open(
        client,
        {"ticket": ticket, "message": "And orders?", "session_id": session_id},
    )
    assert again.events[-1].id == f"{session_id}:1:end"


async def test_the_ticket_opens_only_the_stream_and_the_token_does_not_open_it(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    ticket = await _ticket(client, tenant)

    as_bearer = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {ticket}"})
    assert as_bearer.status_code == 401
    token_in_url = await _open(client, {"ticket": tenant.access_token, "message": "hello"})
    assert token_in_url.status == 401
    forged = await _open(client, {"ticket": ticket[:-4] + "AAAA", "message": "hello"})
    assert forged.status == 401
    missing = await client.get(STREAM, params={"message": "hello"})
    assert missing.status_code == 422
    no_question = await client.get(STREAM, params={"ticket": ticket})
    assert no_question.status_code == 422
    assert no_question.json()["error"]["details"]["problems"][0]["field"] == "message"
    assert (await client.post(TICKETS)).status_code == 401

    # Logging out ends the ticket with the sign-in that issued it.
    logout = await client.post("/api/v1/auth/logout-all", headers=tenant.headers)
    assert logout.status_code in (200, 204), logout.text
    assert (await _open(client, {"ticket": ticket, "message": "hello"})).status == 401


async def test_an_api_key_gets_no_ticket(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await client.post(
        "/api/v1/api-keys", headers=tenant.headers, json={"name": "script", "role": "analyst"}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    refused = await client.post(TICKETS, headers={"X-API-Key": key})
    assert refused.status_code == 403
    assert "POST /api/v1/coach/chat/stream" in refused.json()["error"]["message"]


async def test_reconnecting_with_last_event_id_replays_the_stored_turn_and_never_asks_again(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    ticket = await _ticket(client, tenant)
    first = await _open(client, {"ticket": ticket, "message": "How is revenue doing?"})
    session_id = first.events[0].data["session_id"]
    middle = first.named("delta")[0].id

    replay = await _open(
        client, {"ticket": ticket, "message": "How is revenue doing?"}, headers={"Last-Event-ID": middle}
    )
    assert replay.names == ["final"]
    replayed = replay.events[0]
    assert replayed.id == f"{session_id}:0:end"
    assert replayed.data["replayed"] is True
    assert replayed.data["reply"] == first.events[-1].data["reply"]
    assert replayed.data["citations"] == first.events[-1].data["citations"]

    # The stream had ended: 204 tells the EventSource to stop reconnecting.
    ended = await _open(client, {"ticket": ticket, "message": "x"}, headers={"Last-Event-ID": replayed.id})
    assert ended.status == 204
    # A turn that was never stored is an error event, with an end id, never a second question.
    cut = await _open(
        client, {"ticket": ticket, "message": "x"}, headers={"Last-Event-ID": f"{session_id}:1:3"}
    )
    assert [(e.event, e.data["code"], e.id) for e in cut.events] == [
        ("error", "turn_interrupted", f"{session_id}:1:end")
    ]
    detail = await client.get(f"/api/v1/coach/sessions/{session_id}", headers=tenant.headers)
    assert [m["role"] for m in detail.json()["messages"]].count("user") == 1

    bad = await _open(client, {"ticket": ticket, "message": "x"}, headers={"Last-Event-ID": "42"})
    assert bad.status == 422
    other = await create_tenant(client)
    foreign = await _open(client, {"ticket": await _ticket(client, other)}, headers={"Last-Event-ID": middle})
    assert foreign.status == 404


async def test_heartbeats_keep_the_stream_alive_during_a_slow_agent_step(
    settings: Settings, fake_llm: FakeLlmServer
) -> None:
    llm = llm_settings(fake_llm, timeout_seconds=10.0, stream_heartbeat_seconds=0.05)
    answer = "Revenue is steady this month."
    fake_llm.script("/api/chat", Scripted(ollama_chat(answer), delay_seconds=1.0))
    async with app_client(settings.model_copy(update={"llm": llm})) as client:
        tenant = await create_tenant(client)
        stream = await _open(client, {"ticket": await _ticket(client, tenant), "message": "How is revenue?"})
    assert stream.events[-1].event == "final" and stream.events[-1].data["reply"] == answer
    assert stream.comments.count("ping") >= 3


async def test_the_openapi_document_types_both_streams_as_event_streams(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for method in ("get", "post"):
        operation = spec["paths"][STREAM][method]
        content = operation["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"]
        assert content["text/event-stream"]["schema"] == {"type": "string"}
        assert "id:" in operation["responses"]["200"]["description"]
    get = spec["paths"][STREAM]["get"]
    assert {p["name"] for p in get["parameters"]} >= {"ticket", "message", "session_id", "Last-Event-ID"}
    assert "204" in get["responses"]
    assert "201" in spec["paths"][TICKETS]["post"]["responses"]


async def test_the_ticket_in_the_url_never_reaches_the_logs(
    client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    tenant = await create_tenant(client)
    ticket = await _ticket(client, tenant)
    stream = await _open(client, {"ticket": ticket, "message": "How is revenue doing?"})
    assert stream.events[-1].event == "final"
    refused = await _open(client, {"ticket": ticket + "x", "message": "hello"})
    assert refused.status == 401

    def stream_logged() -> bool:
        lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
        return any(line.get("route") == STREAM and line.get("status") == 200 for line in lines)

    # The request line is written once the response has ended, which the client may see first.
    for _ in range(100):
        if stream_logged():
            break
        await asyncio.sleep(0.1)
    assert stream_logged(), json_logs.getvalue()[-3000:]
    assert ticket not in json_logs.getvalue()
