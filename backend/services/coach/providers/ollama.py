"""Ollama (local): ``POST /api/chat`` with tools, ``POST /api/embed``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from backend.services.coach.providers.base import (
    ChatMessage,
    ChatResult,
    DeltaSink,
    EmbeddingResult,
    Messages,
    ProviderError,
    TokenUsage,
    ToolCall,
    Tools,
    estimated_embedding_usage,
    estimated_usage,
    function_tool,
)
from backend.services.coach.providers.http import post_json, post_stream, require

PROVIDER = "ollama"


def _message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool" and message.name:
        wire["tool_name"] = message.name
    if message.tool_calls:
        wire["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}} for call in message.tool_calls
        ]
    return wire


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls = []
    for item in raw or []:
        function = item.get("function") or {}
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):  # some models return a JSON string
            arguments = json.loads(arguments) if arguments.strip() else {}
        require(PROVIDER, isinstance(function.get("name"), str), "tool call without a name")
        calls.append(ToolCall(name=function["name"], arguments=dict(arguments), id=item.get("id")))
    return tuple(calls)


class OllamaProvider:
    """A model served by Ollama. Local: the data stays in the deployment, and costs nothing."""

    name = PROVIDER
    is_local = True

    def __init__(self, base_url: str, model: str, *, timeout_seconds: float) -> None:
        self.model = model
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_seconds)

    async def chat(
        self, messages: Messages, tools: Tools = (), on_delta: DeltaSink | None = None
    ) -> ChatResult:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(message) for message in messages],
            "stream": on_delta is not None,
        }
        if tools:
            payload["tools"] = [function_tool(tool) for tool in tools]
        started = time.perf_counter()
        if on_delta is None:
            body = await post_json(self._client, PROVIDER, "/api/chat", payload)
            message = body.get("message") if isinstance(body, dict) else None
            require(PROVIDER, isinstance(message, dict), "no 'message' object")
            assert isinstance(message, dict)
            content, raw_calls, final = message.get("content") or "", message.get("tool_calls"), body
        else:
            content, raw_calls, final = await self._stream(payload, on_delta)
        try:
            tool_calls = _tool_calls(raw_calls)
        except (ValueError, AttributeError, TypeError) as error:
            raise ProviderError(PROVIDER, f"malformed tool call ({type(error).__name__})") from error
        prompt, completion = final.get("prompt_eval_count"), final.get("eval_count")
        if isinstance(prompt, int) and isinstance(completion, int):
            usage = TokenUsage(prompt, completion)
        else:
            usage = estimated_usage(messages, tools, content, tool_calls)
        return ChatResult(
            content=content,
            tool_calls=tool_calls,
            usage=usage,
            latency_seconds=time.perf_counter() - started,
            provider=PROVIDER,
            model=self.model,
        )

    async def _stream(
        self, payload: dict[str, Any], on_delta: DeltaSink
    ) -> tuple[str, list[Any] | None, dict[str, Any]]:
        """Read Ollama's NDJSON stream: content pieces, tool calls, and a final ``done`` line with counts."""
        pieces: list[str] = []
        calls: list[Any] = []
        async for line in post_stream(self._client, PROVIDER, "/api/chat", payload):
            try:
                chunk = json.loads(line)
            except ValueError as error:
                raise ProviderError(PROVIDER, "a stream line is not JSON") from error
            message = chunk.get("message") if isinstance(chunk, dict) else None
            if isinstance(message, dict):
                piece = message.get("content") or ""
                if piece:
                    pieces.append(piece)
                    await on_delta(piece)
                calls.extend(message.get("tool_calls") or [])
            if isinstance(chunk, dict) and chunk.get("done"):
                return "".join(pieces), calls or None, chunk
        raise ProviderError(PROVIDER, "the stream ended without a final 'done' line")

    async def embed(self, texts: Sequence[str], *, model: str) -> EmbeddingResult:
        started = time.perf_counter()
        body = await post_json(self._client, PROVIDER, "/api/embed", {"model": model, "input": list(texts)})
        latency = time.perf_counter() - started
        vectors = body.get("embeddings") if isinstance(body, dict) else None
        require(PROVIDER, isinstance(vectors, list) and len(vectors) == len(texts), "embeddings missing")
        assert isinstance(vectors, list)
        prompt = body.get("prompt_eval_count")
        usage = TokenUsage(prompt, 0) if isinstance(prompt, int) else estimated_embedding_usage(texts)
        return EmbeddingResult(
            vectors=[[float(x) for x in vector] for vector in vectors],
            usage=usage,
            latency_seconds=latency,
            provider=PROVIDER,
            model=model,
        )

    async def close(self) -> None:
        await self._client.aclose()
