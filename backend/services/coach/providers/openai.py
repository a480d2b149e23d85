"""Any OpenAI-compatible API (cloud): ``POST {base}/chat/completions`` with tools, ``POST {base}/embeddings``.

``base`` is OPENAI_BASE_URL including the version segment (``https://api.openai.com/v1``),
so Azure OpenAI's v1 endpoint, vLLM, LiteLLM and other compatible servers work unchanged.
"""

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

PROVIDER = "openai"


def _message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id or message.name or "tool"
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id or f"call_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for index, call in enumerate(message.tool_calls)
        ]
    return wire


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        return TokenUsage(prompt, completion)
    return None


class OpenAICompatibleProvider(HttpChatProvider):
    """A cloud model behind an OpenAI-compatible API: data leaves the deployment, and it costs money."""

    name = PROVIDER
    is_local = False
    chat_path = "/chat/completions"

    def __init__(self, base_url: str, api_key: str, model: str, *, timeout_seconds: float) -> None:
        super().__init__(
            base_url, model, timeout_seconds=timeout_seconds, headers={"Authorization": f"Bearer {api_key}"}
        )

    def _chat_payload(self, messages: Messages, tools: Tools, *, streaming: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "messages": [_message(m) for m in messages]}
        if tools:
            payload["tools"] = [function_tool(tool) for tool in tools]
            payload["tool_choice"] = "auto"
        if streaming:
            payload |= {"stream": True, "stream_options": {"include_usage": True}}
        return payload

    def _reply(self, body: Any) -> WireReply:
        choices = body.get("choices") if isinstance(body, dict) else None
        require(PROVIDER, isinstance(choices, list) and bool(choices), "no choices")
        assert isinstance(choices, list)
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        require(PROVIDER, isinstance(message, dict), "no message in the first choice")
        assert isinstance(message, dict)
        return WireReply(message.get("content") or "", message.get("tool_calls"), body.get("usage"))

    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        calls = []
        for item in raw or []:
            function = item.get("function") or {}
            arguments = function.get("arguments") or "{}"
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
            require(PROVIDER, isinstance(function.get("name"), str), "tool call without a name")
            require(PROVIDER, isinstance(parsed, dict), "tool call arguments are not an object")
            calls.append(ToolCall(name=function["name"], arguments=parsed, id=item.get("id")))
        return tuple(calls)

    def _usage(self, raw: Any) -> TokenUsage | None:
        return _usage(raw)

    async def _stream(self, payload: dict[str, Any], on_delta: DeltaSink) -> WireReply:
        """Read the SSE stream: content deltas, tool calls in fragments (joined by index), usage last."""
        pieces: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage: Any = None
        async for line in post_stream(self._client, PROVIDER, self.chat_path, payload):
            if not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except ValueError as error:
                raise ProviderError(PROVIDER, "a stream event is not JSON") from error
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = delta.get("content") or ""
                if piece:
                    pieces.append(piece)
                    await on_delta(piece)
                for fragment in delta.get("tool_calls") or []:
                    call = calls.setdefault(
                        fragment.get("index", 0), {"id": None, "name": "", "arguments": ""}
                    )
                    call["id"] = fragment.get("id") or call["id"]
                    function = fragment.get("function") or {}
                    call["name"] += function.get("name") or ""
                    call["arguments"] += function.get("arguments") or ""
        raw_calls = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for _, call in sorted(calls.items())
        ]
        return WireReply("".join(pieces), raw_calls or None, usage)

    async def embed(
        self, texts: Sequence[str], *, model: str, dimensions: int | None = None
    ) -> EmbeddingResult:
        payload: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions is not None:
            payload["dimensions"] = dimensions
        body, latency = await self._post_timed("/embeddings", payload)
        data = body.get("data") if isinstance(body, dict) else None
        require(PROVIDER, isinstance(data, list) and len(data) == len(texts), "embeddings missing")
        assert isinstance(data, list)
        ordered = sorted(data, key=lambda item: item.get("index", 0))
        usage = _usage(body.get("usage")) or estimated_embedding_usage(texts)
        return EmbeddingResult(
            vectors=[[float(x) for x in item["embedding"]] for item in ordered],
            usage=usage,
            latency_seconds=latency,
            provider=PROVIDER,
            model=model,
        )
