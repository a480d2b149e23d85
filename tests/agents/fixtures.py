"""Fixtures shared by the coach's agent and chat tests: a fake LLM server wired into the app's coach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from backend.agents.runtime import build_coach_runtime
from tests.services.coach.conftest import llm_settings
from tests.services.coach.fake_llm import FakeLlmServer


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
