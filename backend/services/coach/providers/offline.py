"""The offline provider: no language model, only labelled templates filled from tool results.

Used when neither Ollama nor a cloud model is configured (and as the last resort when
they fail), so the coach still answers on a machine with no network. It never writes
free text of its own: it lists what the tools returned for the latest question, under a
label that says the answer is templated. It never asks for tool calls — in offline mode
the caller chooses the tools.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from backend.services.coach.providers.base import (
    ChatMessage,
    ChatResult,
    DeltaSink,
    Messages,
    TokenUsage,
    Tools,
)

PROVIDER = "offline"
MODEL = "templates"
TEMPLATED_LABEL = (
    "[Templated answer: no language model is configured, so this text lists the tools' results "
    "as returned; it was not written by a model.]"
)
NO_RESULTS = "No tool results were available for this question, so there is nothing to report."
MAX_LIST_ITEMS = 20

ToolTemplate = Callable[[Any], str]


def _scalar(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _lines(value: Any, indent: int = 0) -> list[str]:
    """A readable outline of a JSON value; every number is printed exactly as given."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            label = str(key).replace("_", " ")
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}- {label}:")
                lines.extend(_lines(item, indent + 1))
            else:
                lines.append(
                    f"{pad}- {label}: {_scalar(item) if not isinstance(item, dict | list) else 'none'}"
                )
        return lines
    if isinstance(value, list):
        lines = []
        for index, item in enumerate(value[:MAX_LIST_ITEMS], start=1):
            if isinstance(item, dict | list):
                lines.append(f"{pad}- item {index}:")
                lines.extend(_lines(item, indent + 1))
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        if len(value) > MAX_LIST_ITEMS:
            lines.append(f"{pad}- … {len(value) - MAX_LIST_ITEMS} more not shown")
        return lines
    return [f"{pad}{_scalar(value)}"]


def generic_template(result: Any) -> str:
    return "\n".join(_lines(result))


def _latest_tool_results(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Tool messages after the last user message (the results for the current question)."""
    results: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role == "user":
            break
        if message.role == "tool":
            results.append(message)
    return list(reversed(results))


class OfflineProvider:
    """Templates over tool results; ``templates`` maps a tool name to its own renderer."""

    name = PROVIDER
    model = MODEL
    is_local = True

    def __init__(self, templates: Mapping[str, ToolTemplate] | None = None) -> None:
        self._templates = dict(templates or {})

    def render(self, messages: Sequence[ChatMessage]) -> str:
        sections = [TEMPLATED_LABEL]
        results = _latest_tool_results(messages)
        if not results:
            sections.append(NO_RESULTS)
        for message in results:
            tool = message.name or "tool"
            try:
                payload: Any = json.loads(message.content)
            except ValueError:
                payload = message.content
            template = self._templates.get(tool, generic_template)
            sections.append(f"Results from {tool}:\n{template(payload)}")
        return "\n\n".join(sections)

    async def chat(
        self, messages: Messages, tools: Tools = (), on_delta: DeltaSink | None = None
    ) -> ChatResult:
        """Render the templates; nothing streams (the caller pieces the text out itself)."""
        started = time.perf_counter()
        content = self.render(messages)
        return ChatResult(
            content=content,
            tool_calls=(),
            # No model ran, so no tokens were consumed; nothing here is an estimate.
            usage=TokenUsage(0, 0),
            latency_seconds=time.perf_counter() - started,
            provider=PROVIDER,
            model=MODEL,
            templated=True,
        )

    async def close(self) -> None:
        return None
