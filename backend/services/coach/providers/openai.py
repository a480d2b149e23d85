"""Any OpenAI-compatible API (cloud): ``POST {base}/chat/completions`` with tools, ``POST {base}/embeddings``.

``base`` is OPENAI_BASE_URL including the version segment (``https://api.openai.com/v1``),
so Azure OpenAI's v1 endpoint, vLLM, LiteLLM and other compatible servers work unchanged.
"""

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


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls = []
    for item in raw or []:
        function = item.get("function") or {}
        arguments = function.get("arguments") or "{}"
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        require(PROVIDER, isinstance(function.get("name"), str), "tool call without a name")
        require(PROVIDER, isinstance(parsed, dict), "tool call arguments are not an object")
        calls.append(ToolCall(name=function["name"], arguments=parsed, id=item.get("id")))
    return tuple(calls)


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        return TokenUsage(prompt, completion)
    return None


class OpenAICompatibleProvider:
    """A cloud model behind an OpenAI-compatible API: data leaves the deployment, and it costs money."""

    name = PROVIDER
    is_local = False

    def __init__(self, base_url: str, api_key: str, model: str, *, timeout_seconds: float) -> None:
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    async def chat(
        self, messages: Messages, tools: Tools = (), on_delta: DeltaSink | None = None
    ) -> ChatResult:
        payload: dict[str, Any] = {"model": self.model, "messages": [_message(m) for m in messages]}
        if tools:
            payload["tools"] = [function_tool(tool) for tool in tools]
            payload["tool_choice"] = "auto"
        started = time.perf_counter()
        if on_delta is None:
            body = await post_json(self._client, PROVIDER, "/chat/completions", payload)
            choices = body.get("choices") if isinstance(body, dict) else None
            require(PROVIDER, isinstance(choices, list) and bool(choices), "no choices")
            assert isinstance(choices, list)
            message = choices[0].get("message") if isinstance(choices[0], dict) else None
            require(PROVIDER, isinstance(message, dict), "no message in the first choice")
            assert isinstance(message, dict)
            content, raw_calls, raw_usage = (
                message.get("content") or "",
                message.get("tool_calls"),
                body.get("usage"),
            )
        else:
            payload |= {"stream": True, "stream_options": {"include_usage": True}}
            content, raw_calls, raw_usage = await self._stream(payload, on_delta)
        try:
            tool_calls = _tool_calls(raw_calls)
        except (ValueError, AttributeError, TypeError) as error:
            raise ProviderError(PROVIDER, f"malformed tool call ({type(error).__name__})") from error
        usage = _usage(raw_usage) or estimated_usage(messages, tools, content, tool_calls)
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
    ) -> tuple[str, list[Any] | None, Any]:
        """Read the SSE stream: content deltas, tool calls in fragments (joined by index), usage last."""
        pieces: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage: Any = None
        async for line in post_stream(self._client, PROVIDER, "/chat/completions", payload):
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
        return "".join(pieces), raw_calls or None, usage

    async def embed(
        self, texts: Sequence[str], *, model: str, dimensions: int | None = None
    ) -> EmbeddingResult:
        payload: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions is not None:
            payload["dimensions"] = dimensions
        started = time.perf_counter()
        body = await post_json(self._client, PROVIDER, "/embeddings", payload)
        latency = time.perf_counter() - started
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

    async def close(self) -> None:
        await self._client.aclose()
