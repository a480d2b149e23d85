"""Providers stream the reply as the model writes it (Ollama NDJSON, OpenAI-compatible SSE)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from backend.services.coach.providers.base import ChatMessage, ProviderError, ToolSpec
from backend.services.coach.providers.ollama import OllamaProvider
from backend.services.coach.providers.openai import OpenAICompatibleProvider
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat, openai_chat

QUESTION = [ChatMessage("user", "How did revenue do?")]
TOOL = ToolSpec(name="forecaster", description="forecast a metric", parameters={"type": "object"})


@pytest.fixture
def fake() -> Iterator[FakeLlmServer]:
    server = FakeLlmServer().start()
    yield server
    server.stop()


async def test_ollama_streams_pieces_that_add_up_to_the_reply(fake: FakeLlmServer) -> None:
    fake.script("/api/chat", Scripted(ollama_chat("Revenue rose 12% in October to 41,200.")))
    provider = OllamaProvider(fake.url, "llama-test", timeout_seconds=5)
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    try:
        result = await provider.chat(QUESTION, (), collect)
    finally:
        await provider.close()
    assert len(pieces) > 3
    assert "".join(pieces) == result.content == "Revenue rose 12% in October to 41,200."
    assert (result.usage.tokens_in, result.usage.tokens_out, result.usage.estimated) == (42, 7, False)
    assert fake.requests_to("/api/chat")[0]["stream"] is True


async def test_openai_stream_joins_tool_call_fragments_and_reads_usage(fake: FakeLlmServer) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "forecaster", "arguments": json.dumps({"metric": "revenue", "horizon": 3})},
    }
    fake.script("/v1/chat/completions", Scripted(openai_chat(None, tool_calls=[call])))
    provider = OpenAICompatibleProvider(fake.url + "/v1", "sk-test", "gpt-test", timeout_seconds=5)
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    try:
        result = await provider.chat(QUESTION, (TOOL,), collect)
    finally:
        await provider.close()
    assert pieces == []
    assert [(c.name, c.arguments, c.id) for c in result.tool_calls] == [
        ("forecaster", {"metric": "revenue", "horizon": 3}, "call_1")
    ]
    assert (result.usage.tokens_in, result.usage.tokens_out) == (1200, 300)
    sent = fake.requests_to("/v1/chat/completions")[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


async def test_a_stream_that_breaks_is_a_provider_error(fake: FakeLlmServer) -> None:
    fake.script("/api/chat", Scripted(ollama_chat("one two three four five"), break_after_chunks=2))
    provider = OllamaProvider(fake.url, "llama-test", timeout_seconds=5)
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    try:
        with pytest.raises(ProviderError):
            await provider.chat(QUESTION, (), collect)
    finally:
        await provider.close()
    assert pieces == ["one ", "two "]
