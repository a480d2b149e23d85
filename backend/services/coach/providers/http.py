"""The one HTTP call every remote provider makes, with errors mapped to provider errors, and the
chat flow the remote providers share (``HttpChatProvider``)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from backend.services.coach.providers.base import (
    ChatResult,
    DeltaSink,
    Messages,
    ProviderError,
    ProviderTimeout,
    TokenUsage,
    ToolCall,
    Tools,
    estimated_usage,
)
from backend.utils.observability import outbound_http_span, record_http_status


def _span_attributes(provider: str, payload: dict[str, Any]) -> dict[str, str]:
    """Provider and model for the client span (never the prompt)."""
    model = payload.get("model")
    return {"gen_ai.system": provider, **({"gen_ai.request.model": model} if isinstance(model, str) else {})}


async def post_json(client: httpx.AsyncClient, provider: str, path: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` and return the decoded JSON body; timeouts and failures raise provider errors.

    Error bodies are not echoed: they can quote the prompt, and the message ends up in logs.
    The call is a client span (provider and model, never the prompt).
    """
    attributes = _span_attributes(provider, payload)
    request = client.build_request("POST", path, json=payload)
    with outbound_http_span("POST", request.url, attributes=attributes) as span:
        try:
            response = await client.send(request)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(provider, f"no answer within {client.timeout.read}s") from error
        except httpx.HTTPError as error:
            raise ProviderError(provider, f"request failed ({type(error).__name__})") from error
        record_http_status(span, response.status_code)
    if response.status_code >= 400:
        raise ProviderError(provider, f"HTTP {response.status_code} from {path}")
    try:
        return response.json()
    except ValueError as error:
        raise ProviderError(provider, f"{path} returned a body that is not JSON") from error


async def post_stream(
    client: httpx.AsyncClient, provider: str, path: str, payload: dict[str, Any]
) -> AsyncIterator[str]:
    """POST ``payload`` and yield the streamed response line by line (NDJSON or SSE).

    The same error mapping as ``post_json``; a connection that fails mid-stream is a provider
    error too, so the router can fall back (after telling the client to discard the partial text).
    """
    attributes = _span_attributes(provider, payload)
    request = client.build_request("POST", path, json=payload)
    with outbound_http_span("POST", request.url, attributes=attributes) as span:
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(provider, f"no answer within {client.timeout.read}s") from error
        except httpx.HTTPError as error:
            raise ProviderError(provider, f"request failed ({type(error).__name__})") from error
        record_http_status(span, response.status_code)
        try:
            if response.status_code >= 400:
                raise ProviderError(provider, f"HTTP {response.status_code} from {path}")
            async for line in response.aiter_lines():
                if line.strip():
                    yield line
        except httpx.TimeoutException as error:
            raise ProviderTimeout(provider, f"the stream stalled for {client.timeout.read}s") from error
        except httpx.HTTPError as error:
            raise ProviderError(provider, f"the stream broke ({type(error).__name__})") from error
        finally:
            await response.aclose()


def require(provider: str, condition: bool, what: str) -> None:
    if not condition:
        raise ProviderError(provider, f"malformed response: {what}")


@dataclass(frozen=True)
class WireReply:
    """A chat answer as the wire gave it: the text, the raw tool calls and the raw usage counts."""

    content: str
    raw_calls: Any
    raw_usage: Any


class HttpChatProvider(ABC):
    """A model behind an HTTP API. The chat flow (ask, time, read tool calls and usage, estimate
    usage the server did not count) is here; each API's wire format is in its subclass."""

    name: str
    is_local: bool
    chat_path: str

    def __init__(
        self, base_url: str, model: str, *, timeout_seconds: float, headers: dict[str, str] | None = None
    ) -> None:
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_seconds, headers=headers
        )

    @abstractmethod
    def _chat_payload(self, messages: Messages, tools: Tools, *, streaming: bool) -> dict[str, Any]:
        """The request body of a chat call."""

    @abstractmethod
    def _reply(self, body: Any) -> WireReply:
        """The answer in a (non-streamed) response body."""

    @abstractmethod
    async def _stream(self, payload: dict[str, Any], on_delta: DeltaSink) -> WireReply:
        """Send a streamed chat call, pass each piece of text to ``on_delta``, return the whole answer."""

    @abstractmethod
    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        """The tool calls in the wire's form (may raise ValueError, AttributeError, TypeError)."""

    @abstractmethod
    def _usage(self, raw: Any) -> TokenUsage | None:
        """The token counts the server reported, or None when it gave none."""

    async def chat(
        self, messages: Messages, tools: Tools = (), on_delta: DeltaSink | None = None
    ) -> ChatResult:
        payload = self._chat_payload(messages, tools, streaming=on_delta is not None)
        started = time.perf_counter()
        if on_delta is None:
            reply = self._reply(await post_json(self._client, self.name, self.chat_path, payload))
        else:
            reply = await self._stream(payload, on_delta)
        try:
            tool_calls = self._tool_calls(reply.raw_calls)
        except (ValueError, AttributeError, TypeError) as error:
            raise ProviderError(self.name, f"malformed tool call ({type(error).__name__})") from error
        usage = self._usage(reply.raw_usage) or estimated_usage(messages, tools, reply.content, tool_calls)
        return ChatResult(
            content=reply.content,
            tool_calls=tool_calls,
            usage=usage,
            latency_seconds=time.perf_counter() - started,
            provider=self.name,
            model=self.model,
        )

    async def _post_timed(self, path: str, payload: dict[str, Any]) -> tuple[Any, float]:
        """POST ``payload`` and return the JSON body and how long the call took."""
        started = time.perf_counter()
        body = await post_json(self._client, self.name, path, payload)
        return body, time.perf_counter() - started

    async def close(self) -> None:
        await self._client.aclose()
