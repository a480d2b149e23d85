"""No invented number reaches the owner: a model's unbacked figures are rewritten away or dropped,
in the JSON chat and in the stream alike (fake Ollama on loopback, real agents on seeded data)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.agents.fixtures import CHAT, script_goal_planner_then, tenant_with_revenue
from tests.factories import TenantContext
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat
from tests.sse import SseBody, delta_text, post_stream

LOCAL = "/api/chat"
INVENTED = ("987,654", "73.2")
BACKED = "Revenue reached 1,220 last month, growing about 4% a month."
INVENTING = f"{BACKED} By spring you will reach 987,654 in sales. That is a 73.2% jump on today."
STILL_INVENTING = f"{BACKED} Expect 987,654 by spring! Margins improve 73.2% as well.\nAccept the draft goal."
CORRECTED = f"{BACKED} The goal planner drafts a target for this year; accept it to track progress."


async def _chat(client: httpx.AsyncClient, tenant: TenantContext, message: str) -> tuple[dict[str, Any], str]:
    response = await client.post(CHAT, headers=tenant.headers, json={"message": message})
    assert response.status_code == 200, response.text
    return response.json(), response.text


async def _scripted_chat(
    client: httpx.AsyncClient, server: FakeLlmServer, *answers: str, message: str = "Plan a revenue goal"
) -> tuple[TenantContext, dict[str, Any], str]:
    """A seeded tenant's chat ``message``, the model calling the goal planner then answering ``answers``."""
    tenant = await tenant_with_revenue(client)
    script_goal_planner_then(server, *answers)
    body, text = await _chat(client, tenant, message)
    return tenant, body, text


async def _scripted_stream(client: httpx.AsyncClient, server: FakeLlmServer, *answers: str) -> SseBody:
    """Like :func:`_scripted_chat`, streamed: the events and their names; no invented figure was sent."""
    tenant = await tenant_with_revenue(client)
    script_goal_planner_then(server, *answers)
    stream = await post_stream(client, tenant.headers, "Plan a revenue goal")
    assert not any(figure in stream.raw for figure in INVENTED)
    return stream


def _rewrite_instructions(server: FakeLlmServer) -> list[str]:
    return [
        message["content"]
        for request in server.requests_to(LOCAL)
        for message in request["messages"][-1:]
        if message["role"] == "system" and "Rewrite the whole answer" in message["content"]
    ]


async def test_invented_figures_are_dropped_when_the_rewrite_still_invents_them(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant, body, text = await _scripted_chat(client, model_coach, INVENTING, STILL_INVENTING)
    assert not any(figure in text for figure in INVENTED)  # not in the reply, notices or anywhere
    assert body["reply"] == f"{BACKED} Accept the draft goal."
    (notice,) = body["notices"]
    assert "Removed 2 sentences" in notice and "[unverified figure]" in notice and "spring" in notice
    (instruction,) = _rewrite_instructions(model_coach)
    assert "987,654" in instruction and "73.2%" in instruction and "1,220" not in instruction
    assert body["usage"]["calls"] == 3
    # What is remembered is what was shown.
    detail = (await client.get(f"/api/v1/coach/sessions/{body['session_id']}", headers=tenant.headers)).json()
    assert detail["messages"][-1]["content"] == body["reply"]


async def test_a_model_that_corrects_itself_gives_the_corrected_reply(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    _, body, text = await _scripted_chat(client, model_coach, INVENTING, CORRECTED)
    assert body["reply"] == CORRECTED and body["templated"] is False
    assert not any(figure in text for figure in INVENTED)
    (notice,) = body["notices"]
    assert "rewritten" in notice and "2 figures" in notice


async def test_backed_figures_roundings_and_derived_changes_are_kept(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    answer = (
        "Revenue reached 1,220 (about $1.2k) last month. The 10% target of 1,342 is 122 above it "
        "and about 5.8% above the on-trend target of roughly 1,270."
    )
    _, body, _ = await _scripted_chat(client, model_coach, answer, message="Plan a revenue goal, maybe 10%")
    assert body["reply"] == answer and body["notices"] == []
    assert _rewrite_instructions(model_coach) == [] and len(model_coach.requests_to(LOCAL)) == 2


async def test_the_stream_never_sends_an_invented_figure(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    stream = await _scripted_stream(client, model_coach, INVENTING, STILL_INVENTING)
    names = stream.names
    final = stream.events[-1].data
    assert names[-1] == "final" and final["reply"] == f"{BACKED} Accept the draft goal."
    # The backed first sentence of the first answer went out, then the rewrite replaced it.
    first_reset = names.index("reset")
    sent_before = delta_text(stream.events[:first_reset])
    sent_after = delta_text(stream.events[first_reset:])
    assert sent_before == BACKED + " "
    assert sent_after == final["reply"]


async def test_the_stream_sends_the_corrected_reply(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    stream = await _scripted_stream(client, model_coach, INVENTING, CORRECTED)
    after_reset = stream.events[stream.names.index("reset") :]
    assert delta_text(after_reset) == CORRECTED
    assert stream.events[-1].data["reply"] == CORRECTED


async def test_figures_the_owner_gave_earlier_in_the_session_are_backed(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await tenant_with_revenue(client)
    model_coach.script(LOCAL, Scripted(ollama_chat("Noted.")))
    first, _ = await _chat(client, tenant, "My ad budget is $4,750 a month.")
    answer = "Keep the $4,750 budget and review it monthly."
    model_coach.script(LOCAL, Scripted(ollama_chat(answer)))
    response = await client.post(
        CHAT,
        headers=tenant.headers,
        json={"message": "What should I do with it?", "session_id": first["session_id"]},
    )
    body = response.json()
    assert (body["reply"], body["notices"]) == (answer, [])
    assert len(model_coach.requests_to(LOCAL)) == 2  # no rewrite was asked for
