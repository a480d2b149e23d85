"""Startup: settings validation, the embedding dimension check and the runtime the app builds."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr, ValidationError

from backend.agents.runtime import (
    EmbeddingDimensionsMismatch,
    build_coach_runtime,
    check_embedding_dimensions,
)
from backend.config import LlmSettings
from backend.services.coach.llm_router import Tier
from backend.services.coach.providers import ChatMessage
from backend.utils.database import Database
from tests.factories import create_tenant
from tests.services.coach.fake_llm import FakeLlmServer


@pytest.fixture
async def tenant_id(client: httpx.AsyncClient) -> uuid.UUID:
    return (await create_tenant(client)).tenant_id


def llm(**values: Any) -> LlmSettings:
    """Settings by field name (the group reads flat environment names otherwise)."""
    return LlmSettings(**values)


async def test_a_dimension_other_than_the_column_is_refused(database: Database) -> None:
    await check_embedding_dimensions(database, llm(embedding_dimensions=384))
    with pytest.raises(EmbeddingDimensionsMismatch, match="vector\\(384\\)"):
        await build_coach_runtime(database, llm(embedding_dimensions=768))


def test_a_cloud_model_without_a_price_is_refused() -> None:
    with pytest.raises(ValidationError, match="LLM_PRICES"):
        llm(openai_api_key=SecretStr("sk-x"), openai_model="some-unpriced-model")
    priced = llm(
        openai_api_key=SecretStr("sk-x"),
        openai_model="some-priced-model",
        prices={"some-priced-model": {"input_per_million": 1.0, "output_per_million": 2.0}},
    )
    assert priced.prices["some-priced-model"].output_per_million == 2.0
    assert "gpt-4o-mini" in priced.prices  # configured prices extend the defaults


def test_openai_embeddings_need_a_key() -> None:
    with pytest.raises(ValidationError, match="OPENAI_API_KEY"):
        llm(embedding_provider="openai", embedding_model="text-embedding-3-small")


def test_flat_environment_names_configure_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_LOCAL_LLM", "true")
    monkeypatch.setenv("LOCAL_LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("LLM_MONTHLY_BUDGET_DOLLARS", "12.5")
    monkeypatch.setenv("LLM_PRICES", '{"my-model": {"input_per_million": 3, "output_per_million": 9}}')
    monkeypatch.setenv("EMBEDDING_PROVIDER", "ollama")
    settings = LlmSettings()
    assert settings.enable_local and settings.local_model == "qwen2.5:7b"
    assert settings.monthly_budget_dollars == 12.5
    assert settings.prices["my-model"].output_per_million == 9
    assert settings.embedding_provider == "ollama"


async def test_unconfigured_runtime_answers_offline_and_exports_the_budget_gauge(
    database: Database, tenant_id: uuid.UUID
) -> None:
    runtime = await build_coach_runtime(
        database, llm(enable_local=False, openai_api_key=None, deployment_monthly_budget_dollars=300)
    )
    assert not runtime.router.local_available and not runtime.router.cloud_available
    assert REGISTRY.get_sample_value("llm_monthly_budget_dollars") == 300
    routed = await runtime.router.chat(tenant_id, [ChatMessage("user", "How are we doing?")])
    assert routed.tier is Tier.OFFLINE and routed.result.templated
    assert runtime.embeddings.configured.key == "local:all-MiniLM-L6-v2"
    await runtime.close()


async def test_ollama_embeddings_work_without_ollama_chat(
    database: Database, fake_llm: FakeLlmServer, tenant_id: uuid.UUID
) -> None:
    runtime = await build_coach_runtime(
        database,
        llm(
            enable_local=False,
            local_url=fake_llm.url,
            embedding_provider="ollama",
            embedding_model="all-minilm",
        ),
    )
    vectors = await runtime.embeddings.configured.embed(tenant_id, ["hello"])
    assert len(vectors[0]) == 384
    assert fake_llm.requests_to("/api/embed")[0]["model"] == "all-minilm"
    assert not runtime.router.local_available
    await runtime.close()
