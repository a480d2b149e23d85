"""The streaming chat sends a model's answer as it is written, and resets when a model dies mid-answer."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.agents.fixtures import model_coach
from tests.factories import create_tenant
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat, openai_chat

__all__ = ["model_coach"]

STREAM = "/api/v1/coach/chat/stream"
COMPLEX = (
    "Why did revenue drop last month, and what if I move $2k from Facebook to Google ads? "
    "Then plan inventory for next quarter and compare it with the current reorder plan."
)


async def _events(client: httpx.AsyncClient, headers: dict[str, str], message: str) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    async with client.stream("POST", STREAM, headers=headers, json={"message": message}) as response:
        assert response.status_code == 200
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name is not None:
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events


async def test_a_model_answer_streams_before_the_final_event(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await create_tenant(client)
    sentences = [
        "Revenue is steady this month. ",
        "No single driver stands out!\n",
        "Ask me to forecast it for next quarter.",
    ]
    answer = "".join(sentences)
    model_coach.script("/api/chat", Scripted(ollama_chat(answer)))
    events = await _events(client, tenant.headers, "How is revenue doing?")
    names = [name for name, _ in events]
    deltas = [payload["text"] for name, payload in events if name == "delta"]
    assert names[-1] == "final" and "reset" not in names
    # Sentence by sentence: each is checked for figures no tool returned before it goes out.
    assert deltas == sentences
    assert events[-1][1]["reply"] == answer
    assert names.index("delta") < names.index("final")


async def test_a_model_dying_mid_answer_resets_and_the_fallback_answers(
    client: httpx.AsyncClient, model_coach: FakeLlmServer
) -> None:
    tenant = await create_tenant(client)
    model_coach.script(
        "/v1/chat/completions",
        Scripted(openai_chat("The cloud model starts. It explains and then"), break_after_chunks=5),
    )
    model_coach.script("/api/chat", Scripted(ollama_chat("The local model answers instead.")))
    events = await _events(client, tenant.headers, COMPLEX)
    names = [name for name, _ in events]
    assert "reset" in names
    after_reset = names.index("reset")
    before = "".join(p["text"] for n, p in events[:after_reset] if n == "delta")
    after = "".join(p["text"] for n, p in events[after_reset:] if n == "delta")
    assert before == "The cloud model starts. "
    assert after == "The local model answers instead."
    final = events[-1][1]
    assert final["reply"] == after
    assert [(a["tier"], a["outcome"]) for a in final["usage"]["attempts"]] == [
        ("cloud", "error"),
        ("local", "success"),
    ]
