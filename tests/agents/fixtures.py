"""Fixtures shared by the coach's agent and chat tests: a fake LLM server wired into the app's coach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from backend.agents.runtime import build_coach_runtime
from tests.agents.seed import seed_monthly
from tests.factories import TenantContext, create_tenant
from tests.services.coach.conftest import llm_settings
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat

CHAT = "/api/v1/coach/chat"


@pytest.fixture
async def model_coach(app: FastAPI, fake_llm: FakeLlmServer) -> AsyncIterator[FakeLlmServer]:
    """The app's coach switched to fake Ollama (local) and OpenAI (cloud) models for one test."""
    original = app.state.coach
    runtime = await build_coach_runtime(app.state.database, llm_settings(fake_llm))
    app.state.coach = runtime
    try:
        yield fake_llm
    finally:
        app.state.coach = original
        await runtime.close()


def ollama_tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"function": {"name": name, "arguments": arguments}}


GOAL_PLANNER_CALL = ollama_tool_call("goal_planner", objective="grow revenue 10% this year", metric="revenue")


def script_goal_planner_then(server: FakeLlmServer, *answers: str) -> None:
    """The local model asks for the goal planner, then answers ``answers`` in turn (rewrites included)."""
    server.script(
        "/api/chat",
        Scripted(ollama_chat("", tool_calls=[GOAL_PLANNER_CALL])),
        *[Scripted(ollama_chat(answer)) for answer in answers],
    )


async def chat(
    client: httpx.AsyncClient, tenant: TenantContext, message: str, **extra: Any
) -> dict[str, Any]:
    """The coach's JSON reply to ``message`` (``extra``: more request fields, such as ``session_id``)."""
    response = await client.post(CHAT, headers=tenant.headers, json={"message": message, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def tenant_with_revenue(client: httpx.AsyncClient) -> TenantContext:
    """A new tenant with six months of growing revenue."""
    tenant = await create_tenant(client)
    await seed_monthly(client, tenant, "revenue", [1000, 1040, 1080, 1130, 1170, 1220])
    return tenant
