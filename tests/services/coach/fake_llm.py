"""Fake Ollama and OpenAI-compatible servers: a small ASGI app served by uvicorn on loopback.

Each server answers real HTTP with scripted responses (queued per path, else a default
that speaks the provider's wire format) and records every request body it received.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Scripted:
    body: Any = None
    status: int = 200
    delay_seconds: float = 0.0
    # Streaming requests: drop the connection after this many chunks (a model dying mid-answer).
    break_after_chunks: int | None = None


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def ollama_stream_lines(body: dict[str, Any]) -> list[str]:
    """The NDJSON lines Ollama streams for ``body`` (an ``ollama_chat`` response)."""
    message = body.get("message", {})
    lines = [
        json.dumps(
            {"model": body.get("model"), "message": {"role": "assistant", "content": piece}, "done": False}
        )
        for piece in _pieces(message.get("content") or "")
    ]
    final_message = {"role": "assistant", "content": ""}
    if message.get("tool_calls"):
        final_message["tool_calls"] = message["tool_calls"]
    final = {key: value for key, value in body.items() if key not in ("message",)} | {
        "message": final_message
    }
    return [*lines, json.dumps(final)]


def openai_stream_lines(body: dict[str, Any]) -> list[str]:
    """The SSE lines an OpenAI-compatible server streams for ``body`` (an ``openai_chat`` response)."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps(
            {"id": body.get("id"), "object": "chat.completion.chunk", "choices": choices, **extra}
        )

    message = body["choices"][0]["message"]
    lines = [
        event([{"index": 0, "delta": {"content": piece}}]) for piece in _pieces(message.get("content") or "")
    ]
    for index, call in enumerate(message.get("tool_calls") or []):
        arguments = call["function"]["arguments"]
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        half = len(arguments) // 2
        first = {
            "index": index,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
        }
        lines.append(event([{"index": 0, "delta": {"tool_calls": [first]}}]))
        lines.append(
            event(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]
                        },
                    }
                ]
            )
        )
    lines.append(event([{"index": 0, "delta": {}, "finish_reason": body["choices"][0].get("finish_reason")}]))
    if body.get("usage"):
        lines.append(event([], usage=body["usage"]))
    return [*lines, "data: [DONE]"]


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic vector per text (the fake servers' 'embedding')."""
    seed = sum(ord(c) for c in text) % 97 + 1
    return [((seed * (i + 1)) % 13) / 13.0 for i in range(dimensions)]


def ollama_chat(
    content: str = "", *, tool_calls: list[dict[str, Any]] | None = None, usage: bool = True
) -> Any:
    body: dict[str, Any] = {
        "model": "llama-test",
        "created_at": "2026-11-26T10:00:00Z",
        "message": {
            "role": "assistant",
            "content": content,
            **({"tool_calls": tool_calls} if tool_calls else {}),
        },
        "done": True,
        "done_reason": "stop",
    }
    if usage:
        body |= {"prompt_eval_count": 42, "eval_count": 7}
    return body


def openai_chat(
    content: str | None = "", *, tool_calls: list[dict[str, Any]] | None = None, usage: bool = True
) -> Any:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "gpt-test",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
    return body


class FakeLlmServer:
    """Serves both dialects: ``/api/chat``, ``/api/embed`` (Ollama) and ``/v1/chat/completions``,
    ``/v1/embeddings`` (OpenAI). Unscripted requests get a default success response."""

    def __init__(self, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ scripting
    def script(self, path: str, *responses: Scripted) -> None:
        self.scripts[path].extend(responses)

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        return [body for seen, body, _ in self.requests if seen == path]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _default(self, path: str, body: dict[str, Any]) -> Scripted:
        if path == "/api/chat":
            return Scripted(ollama_chat("local answer"))
        if path == "/v1/chat/completions":
            return Scripted(openai_chat("cloud answer"))
        if path == "/api/embed":
            texts = body.get("input") or []
            return Scripted(
                {
                    "model": body.get("model"),
                    "embeddings": [fake_vector(t, self.dimensions) for t in texts],
                    "prompt_eval_count": 5 * len(texts),
                }
            )
        if path == "/v1/embeddings":
            texts = body.get("input") or []
            size = body.get("dimensions") or self.dimensions
            return Scripted(
                {
                    "object": "list",
                    "data": [
                        {"object": "embedding", "index": i, "embedding": fake_vector(t, size)}
                        for i, t in enumerate(texts)
                    ],
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": 8 * len(texts), "total_tokens": 8 * len(texts)},
                }
            )
        return Scripted({"error": "not found"}, status=404)

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        body = json.loads(await request.body() or b"{}")
        self.requests.append((path, body, dict(request.headers)))
        queue = self.scripts.get(path)
        scripted = queue.popleft() if queue else self._default(path, body)
        if scripted.delay_seconds:
            await asyncio.sleep(scripted.delay_seconds)
        if isinstance(scripted.body, str):
            return Response(scripted.body, status_code=scripted.status, media_type="text/plain")
        if body.get("stream") and scripted.status == 200 and path in ("/api/chat", "/v1/chat/completions"):
            lines = (
                ollama_stream_lines(scripted.body)
                if path == "/api/chat"
                else openai_stream_lines(scripted.body)
            )
            return StreamingResponse(
                self._stream(lines, scripted.break_after_chunks), media_type="text/event-stream"
            )
        return JSONResponse(scripted.body, status_code=scripted.status)

    @staticmethod
    async def _stream(lines: list[str], break_after: int | None) -> AsyncIterator[bytes]:
        for sent, line in enumerate(lines):
            if break_after is not None and sent >= break_after:
                raise ConnectionAbortedError("the fake model died mid-answer")
            yield (line + "\n\n" if line.startswith("data:") else line + "\n").encode()
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeLlmServer:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
