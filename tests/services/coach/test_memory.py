"""Semantic memory with the real local embedding model: storage, search, sessions, tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from backend.config import DEFAULT_LLM_PRICES
from backend.models import Role
from backend.services.auth.service import Principal
from backend.services.coach import memory
from backend.services.coach.embeddings import Embeddings, LocalEmbedder, RemoteEmbedder
from backend.services.coach.memory import NewMessage
from backend.services.coach.providers import OpenAICompatibleProvider
from backend.services.coach.usage import UsageRecorder
from backend.services.errors import Forbidden, NotFound
from backend.utils.database import Database
from backend.utils.repository import PageWindow
from tests.factories import create_tenant
from tests.services.coach.conftest import TEST_API_KEY, set_tenant_settings
from tests.services.coach.fake_llm import FakeLlmServer

EXCHANGES = [
    (
        "How should I split my $5,000 monthly ad budget between Google and Facebook?",
        "Put 60% into Google search ads, which returned 3.1x, and 40% into Facebook.",
    ),
    (
        "When should I reorder the blue ceramic mugs so we do not run out before Christmas?",
        "Reorder 400 mugs by November 20; the supplier needs 18 days.",
    ),
    (
        "Which staff shifts can I cut on quiet Tuesday mornings?",
        "Tuesday 8-11am averages 4 customers an hour; one barista is enough.",
    ),
]


@pytest.fixture(scope="module")
def embeddings() -> Embeddings:
    local = LocalEmbedder("all-MiniLM-L6-v2", 384)
    return Embeddings(local, local)


async def store_history(database: Database, tenant_id: uuid.UUID, embeddings: Embeddings) -> uuid.UUID:
    async with database.tenant_session(tenant_id) as session:
        coaching = await memory.create_session(session, user_id=None, title="history")
        for question, answer in EXCHANGES:
            await memory.store_messages(
                session,
                embeddings,
                coaching.id,
                [NewMessage("user", question), NewMessage("assistant", answer, {"agent": "optimizer"})],
            )
        return coaching.id


async def test_search_ranks_the_relevant_past_exchange_first(
    database: Database, tenant_id: uuid.UUID, embeddings: Embeddings
) -> None:
    await store_history(database, tenant_id, embeddings)
    async with database.tenant_session(tenant_id) as session:
        result = await memory.search(session, embeddings, "inventory restock timing for coffee cups", limit=6)
    assert result.embedding_model == "local:all-MiniLM-L6-v2"
    assert "mugs" in result.hits[0].message.content
    top_two = {hit.message.content for hit in result.hits[:2]}
    assert top_two == set(EXCHANGES[1])
    unrelated = [hit.similarity for hit in result.hits if "mugs" not in hit.message.content]
    assert all(result.hits[0].similarity > similarity for similarity in unrelated)


async def test_stored_messages_carry_a_unit_vector_and_the_embedder(
    database: Database, tenant_id: uuid.UUID, embeddings: Embeddings
) -> None:
    session_id = await store_history(database, tenant_id, embeddings)
    async with database.tenant_session(tenant_id) as session:
        _, messages = await memory.get_session_with_messages(session, session_id)
        tool = await memory.store_message(session, embeddings, session_id, role="tool", content='{"x": 1}')
    assert len(messages) == 6
    for message in messages:
        assert message.embedding is not None and len(message.embedding) == 384
        assert sum(float(x) ** 2 for x in message.embedding) == pytest.approx(1.0, abs=1e-4)
        assert message.details["embedding_model"] == "local:all-MiniLM-L6-v2"
    assert messages[1].details["agent"] == "optimizer"
    assert tool.embedding is None  # tool output is data, not memory


async def test_search_never_returns_another_tenants_history(
    database: Database, client: httpx.AsyncClient, embeddings: Embeddings
) -> None:
    owner = (await create_tenant(client)).tenant_id
    other = (await create_tenant(client)).tenant_id
    await store_history(database, owner, embeddings)
    async with database.tenant_session(other) as session:
        coaching = await memory.create_session(session, user_id=None)
        await memory.store_message(session, embeddings, coaching.id, role="user", content="Hello there")
        result = await memory.search(session, embeddings, "when to reorder mugs", limit=50)
    assert [hit.message.content for hit in result.hits] == ["Hello there"]


async def test_sessions_of_another_tenant_are_not_found(
    database: Database, client: httpx.AsyncClient, embeddings: Embeddings
) -> None:
    owner = (await create_tenant(client)).tenant_id
    other = (await create_tenant(client)).tenant_id
    session_id = await store_history(database, owner, embeddings)
    principal = Principal(tenant_id=other, role=Role.OWNER, user_id=uuid.uuid4())
    async with database.tenant_session(other) as session:
        with pytest.raises(NotFound):
            await memory.get_session_with_messages(session, session_id)
        with pytest.raises(NotFound):
            await memory.delete_session(session, principal, session_id)
        with pytest.raises(NotFound):
            await memory.store_message(session, embeddings, session_id, role="user", content="sneaky")
        sessions, total = await memory.list_sessions(session, PageWindow(50))
    assert total == 0 and sessions == []
    async with database.tenant_session(owner) as session:
        sessions, total = await memory.list_sessions(session, PageWindow(50))
    assert total == 1 and sessions[0].message_count == 6


async def test_only_the_author_or_an_admin_deletes_a_session(
    database: Database, tenant_id: uuid.UUID, embeddings: Embeddings
) -> None:
    author = uuid.uuid4()
    async with database.tenant_session(tenant_id) as session:
        coaching = await memory.create_session(session, user_id=None)
        analyst = Principal(tenant_id=tenant_id, role=Role.ANALYST, user_id=author)
        with pytest.raises(Forbidden):
            await memory.delete_session(session, analyst, coaching.id)
        admin = Principal(tenant_id=tenant_id, role=Role.ADMIN, user_id=uuid.uuid4())
        await memory.delete_session(session, admin, coaching.id)
        with pytest.raises(NotFound):
            await memory.get_session(session, coaching.id)


@pytest.fixture
async def cloud_embeddings(fake_llm: FakeLlmServer, database: Database) -> AsyncIterator[Embeddings]:
    provider = OpenAICompatibleProvider(fake_llm.url + "/v1", TEST_API_KEY, "gpt-4o-mini", timeout_seconds=2)
    recorder = UsageRecorder(database, DEFAULT_LLM_PRICES)
    remote = RemoteEmbedder(provider, "text-embedding-3-small", 384, recorder)
    yield Embeddings(remote, LocalEmbedder("all-MiniLM-L6-v2", 384))
    await provider.close()


async def test_cloud_embeddings_are_recorded_and_skipped_for_a_cloud_disabled_tenant(
    database: Database, client: httpx.AsyncClient, fake_llm: FakeLlmServer, cloud_embeddings: Embeddings
) -> None:
    allowed = (await create_tenant(client)).tenant_id
    private = (await create_tenant(client)).tenant_id
    await set_tenant_settings(database, private, {"cloud_llm": False})
    async with database.tenant_session(allowed) as session:
        coaching = await memory.create_session(session, user_id=None)
        stored = await memory.store_message(session, cloud_embeddings, coaching.id, role="user", content="hi")
    assert stored.details["embedding_model"] == "openai:text-embedding-3-small"
    assert len(fake_llm.requests_to("/v1/embeddings")) == 1
    async with database.tenant_session(private) as session:
        coaching = await memory.create_session(session, user_id=None)
        stored = await memory.store_message(
            session, cloud_embeddings, coaching.id, role="user", content="secret"
        )
        result = await memory.search(session, cloud_embeddings, "secret", limit=5)
    assert stored.details["embedding_model"] == "local:all-MiniLM-L6-v2"
    assert [hit.message.content for hit in result.hits] == ["secret"]
    assert len(fake_llm.requests_to("/v1/embeddings")) == 1  # nothing of the private tenant left
