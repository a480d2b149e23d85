"""The coach's memory: sessions, messages with embeddings, and semantic search over the tenant's history.

Everything runs in the caller's tenant session (RLS) with the tenant in every WHERE clause.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import CoachingMessage, CoachingSession, Role
from backend.services.auth.service import Principal
from backend.services.coach import repository
from backend.services.coach.embeddings import Embedder, Embeddings
from backend.services.coach.providers.base import ProviderError
from backend.services.coach.repository import EMBEDDING_MODEL_KEY
from backend.services.coach.usage import cloud_allowed
from backend.services.errors import Forbidden, NotFound, Unavailable, ValidationFailed
from backend.utils.database import session_tenant

# Only what people and the coach said is remembered semantically; tool and system messages are data.
EMBEDDED_ROLES = frozenset({"user", "assistant"})
MAX_QUERY_CHARS = 2000
MAX_SEARCH_RESULTS = 50


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class SearchHit:
    message: CoachingMessage
    similarity: float


@dataclass(frozen=True)
class SearchResult:
    embedding_model: str
    hits: list[SearchHit]


async def _embed(session: AsyncSession, embedder: Embedder, texts: list[str]) -> list[list[float]]:
    try:
        return await embedder.embed(session_tenant(session), texts)
    except ProviderError as error:
        raise Unavailable(
            "The embedding provider is unavailable; try again later", context={"embedder": embedder.key}
        ) from error


async def tenant_embedder(session: AsyncSession, embeddings: Embeddings) -> Embedder:
    """The embedder this tenant's text may go to (never a cloud API when the tenant disabled it)."""
    tenant = await repository.tenant_llm_row(session)
    return embeddings.for_tenant(cloud_allowed=cloud_allowed(tenant.settings))


async def create_session(
    session: AsyncSession, *, user_id: uuid.UUID | None, title: str | None = None
) -> CoachingSession:
    return await repository.add_session(session, user_id=user_id, title=title)


async def get_session(session: AsyncSession, session_id: uuid.UUID) -> CoachingSession:
    found = await repository.get_session(session, session_id)
    if found is None:
        raise NotFound("Coaching session not found", context={"session_id": str(session_id)})
    return found


async def get_session_with_messages(
    session: AsyncSession, session_id: uuid.UUID
) -> tuple[CoachingSession, list[CoachingMessage]]:
    found = await get_session(session, session_id)
    return found, await repository.session_messages(session, session_id)


async def session_answers(session: AsyncSession, session_id: uuid.UUID | None) -> list[CoachingMessage]:
    """The assistant answers of a session, oldest first: one per turn, so answer ``n`` is turn ``n``'s
    (a 404 for a session the tenant does not have; none for a new session)."""
    if session_id is None:
        return []
    _, messages = await get_session_with_messages(session, session_id)
    return [message for message in messages if message.role == "assistant"]


# The tenant's sessions, most recently active first (only ``user_id``'s when given): the
# repository's page, no rule of its own.
list_sessions = repository.list_sessions


async def delete_session(session: AsyncSession, principal: Principal, session_id: uuid.UUID) -> None:
    """Delete a session and its messages: its author may, and admins may delete any."""
    found = await get_session(session, session_id)
    if found.user_id != principal.user_id and not principal.role.at_least(Role.ADMIN):
        raise Forbidden("Only the author of a coaching session or an admin can delete it")
    await repository.delete_session(session, session_id)


async def store_messages(
    session: AsyncSession,
    embeddings: Embeddings,
    session_id: uuid.UUID,
    messages: Sequence[NewMessage],
) -> list[CoachingMessage]:
    """Append messages to a session; user and assistant messages are embedded in one batch."""
    await get_session(session, session_id)
    to_embed = [index for index, message in enumerate(messages) if message.role in EMBEDDED_ROLES]
    vectors: dict[int, list[float]] = {}
    embedder: Embedder | None = None
    if to_embed:
        embedder = await tenant_embedder(session, embeddings)
        computed = await _embed(session, embedder, [messages[i].content for i in to_embed])
        vectors = dict(zip(to_embed, computed, strict=True))
    # One transaction shares one now(): explicit, strictly increasing timestamps keep the order.
    started = datetime.now(UTC)
    rows = []
    for index, message in enumerate(messages):
        details = dict(message.details or {})
        vector = vectors.get(index)
        if vector is not None and embedder is not None:
            details[EMBEDDING_MODEL_KEY] = embedder.key
        rows.append(
            CoachingMessage(
                tenant_id=session_tenant(session),
                session_id=session_id,
                role=message.role,
                content=message.content,
                embedding=vector,
                details=details,
                created_at=started + timedelta(microseconds=index),
            )
        )
    await repository.add_messages(session, rows)
    return rows


async def store_message(
    session: AsyncSession,
    embeddings: Embeddings,
    session_id: uuid.UUID,
    *,
    role: str,
    content: str,
    details: dict[str, Any] | None = None,
) -> CoachingMessage:
    (row,) = await store_messages(session, embeddings, session_id, [NewMessage(role, content, details)])
    return row


async def search(session: AsyncSession, embeddings: Embeddings, query: str, *, limit: int) -> SearchResult:
    """The tenant's past messages most similar in meaning to ``query`` (cosine similarity, best first)."""
    query = query.strip()
    if not query:
        raise ValidationFailed("the search query is empty", context={"field": "q"})
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationFailed(
            f"the search query is longer than {MAX_QUERY_CHARS} characters", context={"field": "q"}
        )
    limit = max(1, min(limit, MAX_SEARCH_RESULTS))
    embedder = await tenant_embedder(session, embeddings)
    (vector,) = await _embed(session, embedder, [query])
    hits = await repository.nearest_messages(session, vector, embedding_model=embedder.key, limit=limit)
    return SearchResult(embedder.key, [SearchHit(hit.message, hit.similarity) for hit in hits])
