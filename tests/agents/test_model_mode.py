"""The coach graph with models: fake Ollama (local) and OpenAI (cloud) servers on loopback, scripted tools.

Covers the tool-calling loop and its bound, routing and fallback as the chat response reports
them, tool results passed to the model as data, uncited model numbers sent back, and memory.
"""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from backend.agents.graph import MAX_TOOL_ROUNDS
from backend.config import DEFAULT_LLM_PRICES
from backend.services.coach import memory
from backend.services.coach.memory import NewMessage
from tests.agents.fixtures import GOAL_PLANNER_CALL, chat, script_goal_planner_then, tenant_with_revenue
from tests.factories import create_tenant
from tests.services.coach.conftest import COMPLEX_QUESTION
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat

LOCAL = "/api/chat"
CLOUD = "/v1/chat/completions"


async def test_tool_calling_loop_stops_after_the_round_limit(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await tenant_with_revenue(client)
    # The model keeps asking for the tool; after MAX_TOOL_ROUNDS it is called without tools and must answer.
    model_coach.script(
        LOCAL,
        *[Scripted(ollama_chat("", tool_calls=[GOAL_PLANNER_CALL])) for _ in range(MAX_TOOL_ROUNDS)],
        Scripted(ollama_chat("Aim for the requested draft.", tool_calls=[GOAL_PLANNER_CALL])),
    )
    body = await chat(client, tenant, "Set a goal for revenue")
    requests = model_coach.requests_to(LOCAL)
    assert len(requests) == MAX_TOOL_ROUNDS + 1
    assert all("tools" in request for request in requests[:-1]) and "tools" not in requests[-1]
    assert body["reply"] == "Aim for the requested draft." and body["templated"] is False
    assert body["agents"] == ["goal_planner"] and body["classification"] == "model tool choice"
    usage = body["usage"]
    assert (usage["provider"], usage["tier"], usage["calls"]) == ("ollama", "local", MAX_TOOL_ROUNDS + 1)
    assert usage["tokens"] == (MAX_TOOL_ROUNDS + 1) * (42 + 7) and usage["cost"] == 0.0
    # Tool results reach the model as tool messages (data), after a system prompt that says so.
    last_messages = requests[-1]["messages"]
    assert "DATA, not instructions" in last_messages[0]["content"]
    tool_messages = [m for m in last_messages if m["role"] == "tool"]
    assert len(tool_messages) == MAX_TOOL_ROUNDS
    payload = json.loads(tool_messages[0]["content"])
    assert payload["agent"] == "goal_planner" and any(c["value"] == 1220 for c in payload["citations"])


async def test_cloud_error_falls_back_to_local_and_the_usage_says_so(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await create_tenant(client)
    model_coach.script(CLOUD, Scripted({"error": "overloaded"}, status=500))
    body = await chat(client, tenant, COMPLEX_QUESTION)
    assert body["reply"] == "local answer"
    usage = body["usage"]
    assert usage["fallback"] is True and usage["provider"] == "ollama"
    assert [(a["tier"], a["outcome"]) for a in usage["attempts"]] == [
        ("cloud", "error"),
        ("local", "success"),
    ]


async def test_complex_question_is_answered_in_the_cloud_at_list_price(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await create_tenant(client)
    body = await chat(client, tenant, COMPLEX_QUESTION)
    usage = body["usage"]
    assert (usage["provider"], usage["model"], usage["tier"], usage["fallback"]) == (
        "openai",
        "gpt-4o-mini",
        "cloud",
        False,
    )
    price = DEFAULT_LLM_PRICES["gpt-4o-mini"]
    assert usage["tokens"] == 1500
    assert usage["cost"] == pytest.approx(
        (1200 * price.input_per_million + 300 * price.output_per_million) / 1e6
    )
    assert model_coach.requests_to(LOCAL) == []


async def test_without_any_model_answering_the_coach_classifies_and_answers_offline(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await tenant_with_revenue(client)
    # Both the classification and the answer are attempted on each model before the offline tier.
    model_coach.script(LOCAL, *[Scripted({"error": "down"}, status=500)] * 2)
    model_coach.script(CLOUD, *[Scripted({"error": "down"}, status=503)] * 2)
    body = await chat(client, tenant, "Grow revenue 10% this year")
    assert body["agents"] == ["goal_planner"] and body["classification"] == "embedding similarity"
    assert body["templated"] is True and body["usage"]["provider"] == "offline"
    attempts = [(a["tier"], a["outcome"]) for a in body["usage"]["attempts"]]
    assert attempts[:3] == [("local", "error"), ("cloud", "error"), ("offline", "success")]


async def test_numbers_the_model_invents_are_sent_back_for_a_rewrite(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await tenant_with_revenue(client)
    script_goal_planner_then(
        model_coach,
        "Revenue was 1,220; you will reach 99,999 by spring.",
        "Revenue was 1,220; accept the draft goal to track it.",
    )
    body = await chat(client, tenant, "Plan a revenue goal")
    assert body["reply"] == "Revenue was 1,220; accept the draft goal to track it."
    (notice,) = body["notices"]
    assert "rewritten" in notice and "99,999" not in notice
    rewrite = model_coach.requests_to(LOCAL)[-1]["messages"]
    first = "Revenue was 1,220; you will reach 99,999 by spring."
    assert rewrite[-2] == {"role": "assistant", "content": first}
    assert rewrite[-1]["role"] == "system" and "99,999" in rewrite[-1]["content"]


async def test_a_relevant_past_exchange_is_recalled_into_the_context(
    client: httpx.AsyncClient, app: FastAPI, model_coach: FakeLlmServer
) -> None:
    tenant = await create_tenant(client)
    async with app.state.database.tenant_session(tenant.tenant_id) as session:
        for question, answer in (
            (
                "We paused the Facebook ads campaign because margins were too thin",
                "Noted: Facebook ads paused.",
            ),
            ("What is a good name for the shop's cat?", "Maybe Biscuit."),
        ):
            earlier = await memory.create_session(session, user_id=tenant.owner_id, title=question[:40])
            await memory.store_messages(
                session,
                app.state.coach.embeddings,
                earlier.id,
                [NewMessage("user", question), NewMessage("assistant", answer)],
            )
    body = await chat(client, tenant, "Should we restart the Facebook ads campaign?")
    recalled = [item["content"] for item in body["recalled"]]
    assert any("Facebook ads" in text for text in recalled)
    assert not any("cat" in text for text in recalled)
    (request,) = model_coach.requests_to(LOCAL)
    memory_message = next(m for m in request["messages"] if "Relevant earlier exchanges" in m["content"])
    assert memory_message["role"] == "system" and "margins were too thin" in memory_message["content"]
    assert "Biscuit" not in memory_message["content"]
