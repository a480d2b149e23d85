"""Ollama (local): ``POST /api/chat`` with tools, ``POST /api/embed``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from backend.services.coach.providers.base import (
    ChatMessage,
    DeltaSink,
    EmbeddingResult,
    Messages,
    ProviderError,
    TokenUsage,
    ToolCall,
    Tools,
    estimated_embedding_usage,
    function_tool,
)
from backend.services.coach.providers.http import HttpChatProvider, WireReply, post_stream, require

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


class OllamaProvider(HttpChatProvider):
    """A model served by Ollama. Local: the data stays in the deployment, and costs nothing."""

    name = PROVIDER
    is_local = True
    chat_path = "/api/chat"

    def _chat_payload(self, messages: Messages, tools: Tools, *, streaming: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(message) for message in messages],
            "stream": streaming,
        }
        if tools:
            payload["tools"] = [function_tool(tool) for tool in tools]
        return payload

    def _reply(self, body: Any) -> WireReply:
        message = body.get("message") if isinstance(body, dict) else None
        require(PROVIDER, isinstance(message, dict), "no 'message' object")
        assert isinstance(message, dict)
        return WireReply(message.get("content") or "", message.get("tool_calls"), body)

    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        calls = []
        for item in raw or []:
            function = item.get("function") or {}
            arguments = function.get("arguments") or {}
            if isinstance(arguments, str):  # some models return a JSON string
                arguments = json.loads(arguments) if arguments.strip() else {}
            require(PROVIDER, isinstance(function.get("name"), str), "tool call without a name")
            calls.append(ToolCall(name=function["name"], arguments=dict(arguments), id=item.get("id")))
        return tuple(calls)

    def _usage(self, raw: Any) -> TokenUsage | None:
        """The counts on the final body (or the stream's ``done`` line)."""
        prompt, completion = raw.get("prompt_eval_count"), raw.get("eval_count")
        if isinstance(prompt, int) and isinstance(completion, int):
            return TokenUsage(prompt, completion)
        return None

    async def _stream(self, payload: dict[str, Any], on_delta: DeltaSink) -> WireReply:
        """Read Ollama's NDJSON stream: content pieces, tool calls, and a final ``done`` line with counts."""
        pieces: list[str] = []
        calls: list[Any] = []
        async for line in post_stream(self._client, PROVIDER, self.chat_path, payload):
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
                return WireReply("".join(pieces), calls or None, chunk)
        raise ProviderError(PROVIDER, "the stream ended without a final 'done' line")

    async def embed(self, texts: Sequence[str], *, model: str) -> EmbeddingResult:
        body, latency = await self._post_timed("/api/embed", {"model": model, "input": list(texts)})
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
