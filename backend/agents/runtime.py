"""The coach's long-lived parts for one process, built at startup: providers, router, embedders."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from backend.agents.registry import offline_templates
from backend.config import EmbeddingProvider, LlmSettings
from backend.models.coaching import EMBEDDING_DIMENSIONS
from backend.services.coach.embeddings import Embeddings, build_embeddings
from backend.services.coach.llm_router import LlmRouter
from backend.services.coach.providers.offline import OfflineProvider
from backend.services.coach.providers.ollama import OllamaProvider
from backend.services.coach.providers.openai import OpenAICompatibleProvider
from backend.services.coach.usage import UsageRecorder
from backend.utils.database import Database

# pgvector stores a vector column's dimension as its type modifier.
_COLUMN_DIMENSIONS = """
select a.atttypmod from pg_attribute a
where a.attrelid = to_regclass('coaching_messages') and a.attname = 'embedding' and not a.attisdropped
"""


class EmbeddingDimensionsMismatch(RuntimeError):
    """EMBEDDING_DIMENSIONS differs from the coaching_messages.embedding column; the app refuses to start."""


@dataclass
class CoachRuntime:
    router: LlmRouter
    embeddings: Embeddings
    recorder: UsageRecorder
    # Cosine similarity an earlier message needs to be recalled into a chat (COACH_RECALL_MIN_SIMILARITY).
    recall_min_similarity: float
    # HTTP clients used only for embeddings (the router closes the chat providers).
    embedding_clients: tuple[OllamaProvider | OpenAICompatibleProvider, ...] = ()

    async def close(self) -> None:
        await self.router.close()
        for client in self.embedding_clients:
            await client.close()


async def check_embedding_dimensions(database: Database, settings: LlmSettings) -> None:
    """Refuse a configured dimension that the stored column cannot hold."""
    async with database.system_connection() as connection:
        column = await connection.scalar(text(_COLUMN_DIMENSIONS))
    # Not migrated yet (readiness reports that): compare with the column the migrations create.
    column = EMBEDDING_DIMENSIONS if column is None else int(column)
    if column != settings.embedding_dimensions:
        raise EmbeddingDimensionsMismatch(
            f"EMBEDDING_DIMENSIONS={settings.embedding_dimensions} but coaching_messages.embedding is "
            f"vector({column}); configure an embedding model with {column} dimensions"
        )


async def build_coach_runtime(database: Database, settings: LlmSettings) -> CoachRuntime:
    await check_embedding_dimensions(database, settings)
    recorder = UsageRecorder(database, settings.prices)
    local = (
        OllamaProvider(settings.local_url, settings.local_model, timeout_seconds=settings.timeout_seconds)
        if settings.enable_local
        else None
    )
    cloud = None
    if settings.cloud_configured:
        assert settings.openai_api_key is not None
        cloud = OpenAICompatibleProvider(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            settings.openai_model,
            timeout_seconds=settings.timeout_seconds,
        )
    embedding_only: tuple[OllamaProvider | OpenAICompatibleProvider, ...] = ()
    ollama_for_embeddings = local
    if settings.embedding_provider is EmbeddingProvider.OLLAMA and local is None:
        # Ollama embeddings do not need Ollama chat: a separate client on the same URL.
        ollama_for_embeddings = OllamaProvider(
            settings.local_url, settings.embedding_model, timeout_seconds=settings.timeout_seconds
        )
        embedding_only = (ollama_for_embeddings,)
    embeddings = build_embeddings(settings, ollama=ollama_for_embeddings, openai=cloud, recorder=recorder)
    router = LlmRouter(
        database,
        settings,
        local=local,
        cloud=cloud,
        offline=OfflineProvider(offline_templates()),
        recorder=recorder,
    )
    return CoachRuntime(
        router=router,
        embeddings=embeddings,
        recorder=recorder,
        recall_min_similarity=settings.recall_min_similarity,
        embedding_clients=embedding_only,
    )
