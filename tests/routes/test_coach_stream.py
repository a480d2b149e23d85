"""The streaming chat sends a model's answer as it is written, and resets when a model dies mid-answer."""

from __future__ import annotations

import httpx

from tests.agents.fixtures import model_coach
from tests.factories import create_tenant
from tests.services.coach.conftest import COMPLEX_QUESTION
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat, openai_chat
from tests.sse import delta_text, post_stream

__all__ = ["model_coach"]


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
    stream = await post_stream(client, tenant.headers, "How is revenue doing?")
    names = stream.names
    deltas = [event.data["text"] for event in stream.named("delta")]
    assert names[-1] == "final" and "reset" not in names
    # Sentence by sentence: each is checked for figures no tool returned before it goes out.
    assert deltas == sentences
    assert stream.events[-1].data["reply"] == answer
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
    stream = await post_stream(client, tenant.headers, COMPLEX_QUESTION)
    names = stream.names
    assert "reset" in names
    after_reset = names.index("reset")
    before = delta_text(stream.events[:after_reset])
    after = delta_text(stream.events[after_reset:])
    assert before == "The cloud model starts. "
    assert after == "The local model answers instead."
    final = stream.events[-1].data
    assert final["reply"] == after
    assert [(a["tier"], a["outcome"]) for a in final["usage"]["attempts"]] == [
        ("cloud", "error"),
        ("local", "success"),
    ]
