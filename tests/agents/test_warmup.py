"""The coach warms in the background at start-up and readiness reports it (no timing assertions)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from backend.agents import classifier
from backend.config import LlmSettings, Settings
from backend.services.coach import embeddings
from backend.services.coach.embeddings import BUNDLED_MODEL
from tests.conftest import client_for, running_app


async def test_after_the_warm_up_readiness_shows_it_and_the_model_is_loaded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cold process: nothing loaded, nothing indexed (the caches are process-wide).
    monkeypatch.setattr(embeddings, "_models", {})
    monkeypatch.setattr(classifier, "_indexes", {})
    async with running_app(settings) as app, client_for(app) as http:
        warmup = app.state.coach_warmup
        assert warmup.task is not None
        await warmup.task
        local = app.state.coach.embeddings.local
        assert embeddings.is_loaded(BUNDLED_MODEL) and classifier.is_indexed(local)
        response = await http.get("/api/ready")
        assert response.status_code == 200
        check = response.json()["checks"]["coach_warm"]
        assert check["ok"] is True and check["required"] is False
        assert check["detail"].startswith("ready: embedding model local:all-MiniLM-L6-v2 loaded")


async def test_readiness_reports_the_forecaster_warming_then_warm(settings: Settings) -> None:
    async with running_app(settings) as app, client_for(app) as http:
        warmup = app.state.forecaster_warmup
        assert warmup.task is not None
        if not warmup.task.done():  # a cold pool spawns and imports for seconds
            check = (await http.get("/api/ready")).json()["checks"]["forecaster_warm"]
            assert check == {"ok": False, "detail": f"warming: {warmup.detail}", "required": False}
        await warmup.task
        response = await http.get("/api/ready")
        assert response.status_code == 200
        check = response.json()["checks"]["forecaster_warm"]
        assert check["ok"] is True and check["required"] is False
        assert check["detail"].startswith("ready: statsforecast loaded in ")


async def test_a_failed_warm_up_is_reported_and_does_not_stop_the_app(settings: Settings) -> None:
    broken = settings.model_copy(update={"llm": LlmSettings(embedding_model="/nonexistent/model")})
    async with running_app(broken) as app, client_for(app) as http:
        with contextlib.suppress(asyncio.CancelledError):
            await app.state.coach_warmup.task
        response = await http.get("/api/ready")
        assert response.status_code == 200
        body = response.json()
        assert body["checks"]["coach_warm"]["ok"] is False
        assert body["checks"]["coach_warm"]["detail"].startswith("failed: ")
        assert body["status"] == "degraded" and body["checks"]["database"]["ok"] is True
