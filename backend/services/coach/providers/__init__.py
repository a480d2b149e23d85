"""LLM providers behind one interface: Ollama (local), OpenAI-compatible (cloud), offline templates."""

from backend.services.coach.providers.base import (
    ChatMessage,
    ChatResult,
    EmbeddingResult,
    LlmProvider,
    ProviderError,
    ProviderTimeout,
    TokenUsage,
    ToolCall,
    ToolSpec,
)
from backend.services.coach.providers.offline import OfflineProvider
from backend.services.coach.providers.ollama import OllamaProvider
from backend.services.coach.providers.openai import OpenAICompatibleProvider

__all__ = [
    "ChatMessage",
    "ChatResult",
    "EmbeddingResult",
    "LlmProvider",
    "OfflineProvider",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "ProviderError",
    "ProviderTimeout",
    "TokenUsage",
    "ToolCall",
    "ToolSpec",
]
