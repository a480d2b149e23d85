"""Fixtures for the coach: fake LLM servers on loopback, a database handle, fresh tenants, routers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from backend.config import LlmSettings, Settings
from backend.services.coach.llm_router import LlmRouter
from backend.services.coach.providers import OfflineProvider, OllamaProvider, OpenAICompatibleProvider
from backend.services.coach.usage import UsageRecorder
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import create_tenant
from tests.services.coach.fake_llm import FakeLlmServer

TEST_API_KEY = "sk-test-key-not-real"
# A question the complexity score sends to the cloud model: several intents, a what-if, a plan.
COMPLEX_QUESTION = (
    "Why did revenue drop last month, and what if I move $2k from Facebook to Google ads? "
    "Then plan inventory for next quarter and compare it with the current reorder plan."
)


@pytest.fixture(scope="session")
async def database(database_urls: DatabaseUrls, settings: Settings) -> AsyncIterator[Database]:
    db = Database(database_urls.app, settings.database)
    yield db
    await db.dispose()


@pytest.fixture
async def tenant_id(client: httpx.AsyncClient) -> uuid.UUID:
    return (await create_tenant(client)).tenant_id


async def set_tenant_settings(database: Database, tenant_id: uuid.UUID, values: dict[str, Any]) -> None:
    async with database.tenant_session(tenant_id) as session:
        await session.execute(
            text("update tenants set settings = settings || cast(:values as jsonb) where id = :id"),
            {"values": json.dumps(values), "id": tenant_id},
        )


def llm_settings(server: FakeLlmServer, **overrides: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "enable_local": True,
        "local_url": server.url,
        "local_model": "llama-test",
        "openai_api_key": SecretStr(TEST_API_KEY),
        "openai_base_url": server.url + "/v1",
        "openai_model": "gpt-4o-mini",
        "timeout_seconds": 0.5,
        "target_local_share": 0.0,
        "monthly_budget_dollars": 10.0,
        "circuit_failure_threshold": 2,
        "circuit_reset_seconds": 60.0,
        "embedding_provider": "local",
        "embedding_model": "all-MiniLM-L6-v2",
        "embedding_dimensions": 384,
    }
    values.update(overrides)
    return LlmSettings(**values)


RouterFactory = Callable[..., LlmRouter]


@pytest.fixture
async def make_router(fake_llm: FakeLlmServer, database: Database) -> AsyncIterator[RouterFactory]:
    routers: list[LlmRouter] = []

    def build(*, local: bool = True, cloud: bool = True, **overrides: Any) -> LlmRouter:
        settings = llm_settings(fake_llm, **overrides)
        router = LlmRouter(
            database,
            settings,
            local=OllamaProvider(
                settings.local_url, settings.local_model, timeout_seconds=settings.timeout_seconds
            )
            if local
            else None,
            cloud=OpenAICompatibleProvider(
                settings.openai_base_url,
                TEST_API_KEY,
                settings.openai_model,
                timeout_seconds=settings.timeout_seconds,
            )
            if cloud
            else None,
            offline=OfflineProvider(),
            recorder=UsageRecorder(database, settings.prices),
        )
        routers.append(router)
        return router

    yield build
    for router in routers:
        await router.close()
