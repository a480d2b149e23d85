"""The provider interface: one chat call (messages + tool definitions) and one embedding call.

Messages and tools use the OpenAI chat shapes every provider here speaks a dialect of;
each implementation translates them to its wire format and back. Results carry token
usage (estimated, and flagged so, only when the provider reports none) and latency.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

# Used only when a provider returns no usage: the common rule of thumb of ~4 characters
# per token for English text. Rows computed this way are stored with tokens_estimated.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks to run, with parsed JSON arguments."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """One message. ``tool`` messages carry a tool's result (as data) and the tool's name."""

    role: Role
    content: str = ""
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: name, description and a JSON-schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class TokenUsage:
    tokens_in: int
    tokens_out: int
    estimated: bool = False


@dataclass(frozen=True)
class ChatResult:
    content: str
    tool_calls: tuple[ToolCall, ...]
    usage: TokenUsage
    latency_seconds: float
    provider: str
    model: str
    templated: bool = False


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    usage: TokenUsage
    latency_seconds: float
    provider: str
    model: str


class ProviderError(Exception):
    """A provider could not answer (connection refused, HTTP error, malformed response)."""

    outcome = "error"

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.latency_seconds = 0.0  # set by the router: how long the failed call took


class ProviderTimeout(ProviderError):
    """The provider did not answer within LLM_TIMEOUT_SECONDS."""

    outcome = "timeout"


# Receives the reply's text as the model writes it (streaming); see LlmProvider.chat.
DeltaSink = Callable[[str], Awaitable[None]]
Messages = Sequence[ChatMessage]
Tools = Sequence[ToolSpec]


class LlmProvider(Protocol):
    """What the router needs from a provider."""

    name: str
    model: str
    is_local: bool
    """True when data never leaves the deployment (Ollama, the offline templates)."""

    async def chat(
        self, messages: Messages, tools: Tools = (), on_delta: DeltaSink | None = None
    ) -> ChatResult:
        """One completion. With ``on_delta`` a remote provider streams and hands over each piece of
        the reply as it arrives; the returned result is the same either way."""
        ...

    async def close(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A rough token count for text a provider did not count (see ``CHARS_PER_TOKEN``)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_prompt_tokens(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
    text = "".join(message.content for message in messages)
    text += "".join(tool.name + tool.description + str(tool.parameters) for tool in tools)
    return estimate_tokens(text)


def estimated_usage(
    messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], content: str, tool_calls: Sequence[ToolCall]
) -> TokenUsage:
    """Token counts for a reply whose provider reported none, marked as estimated."""
    out_text = content + "".join(json.dumps(call.arguments) for call in tool_calls)
    return TokenUsage(estimate_prompt_tokens(messages, tools), estimate_tokens(out_text), estimated=True)


def estimated_embedding_usage(texts: Sequence[str]) -> TokenUsage:
    """Token counts for an embedding call whose provider reported none, marked as estimated."""
    return TokenUsage(sum(estimate_tokens(text) for text in texts), 0, estimated=True)


def function_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool in the OpenAI function-calling shape, which Ollama's chat API takes as well."""
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }
