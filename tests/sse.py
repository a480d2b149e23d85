"""Reading the coach's Server-Sent Events the way a browser EventSource does, for every stream test."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

STREAM = "/api/v1/coach/chat/stream"


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: Any  # the event's one JSON object
    id: str | None = None


@dataclass
class SseBody:
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    raw: str = ""

    @property
    def names(self) -> list[str]:
        return [event.event for event in self.events]

    def named(self, name: str) -> list[SseEvent]:
        return [event for event in self.events if event.event == name]


def parse_sse(text: str) -> SseBody:
    """Events and comments of an SSE body, per the EventSource parsing rules (blank line ends one)."""
    body = SseBody(raw=text)
    fields: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if "data" in fields:
                event = SseEvent(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"))
                body.events.append(event)
            fields = {}
        elif line.startswith(":"):
            body.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    return body


def delta_text(events: Iterable[SseEvent]) -> str:
    """What the ``delta`` events among ``events`` sent the reader, joined."""
    return "".join(event.data["text"] for event in events if event.event == "delta")


async def post_stream(client: httpx.AsyncClient, headers: dict[str, str], message: str) -> SseBody:
    """The events of a POST to the coach stream asking ``message``; it must answer 200."""
    async with client.stream("POST", STREAM, headers=headers, json={"message": message}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    return parse_sse(text)
