"""What the coach recalls into a chat: only relevant memories, within the session's topic and tenant.

Offline coach (no model), real local embeddings, memories stored through the memory service.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.agents.fixtures import chat
from tests.factories import create_tenant
from tests.routes.test_coach_sessions import seed_session
from tests.services.coach.relevance_set import load

FACEBOOK = (
    "Should we restart the Facebook ads campaign?",
    "We paused the Facebook ads because margins were thin.",
)
CAT = ("What should we call the shop's cat?", "Let's call the cat Biscuit.")


def _recalled(body: dict[str, Any]) -> list[str]:
    return [item["content"] for item in body["recalled"]]


async def test_a_question_about_nothing_stored_recalls_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    tenant = await create_tenant(client)
    memories = list(load()["memories"].values())
    await seed_session(app, tenant, list(zip(memories[::2], memories[1::2], strict=False)))
    body = await chat(client, tenant, "What's the weather going to be tomorrow?")
    assert body["recalled"] == []
    assert any("mugs" in text for text in _recalled(await chat(client, tenant, "Do we have enough mugs?")))


async def test_a_follow_up_recalls_what_its_session_is_about(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant(client)
    await seed_session(app, tenant, [FACEBOOK])
    await seed_session(app, tenant, [CAT])
    follow_up = "What did we decide last time?"
    # On its own wording the follow-up matches nothing.
    assert (await chat(client, tenant, follow_up))["recalled"] == []
    ads = await chat(client, tenant, "Is it time to restart the Facebook ads?")
    ads_follow_up = _recalled(await chat(client, tenant, follow_up, session_id=ads["session_id"]))
    assert any("margins were thin" in text for text in ads_follow_up)
    assert not any("cat" in text for text in ads_follow_up)
    cat = await chat(client, tenant, "Help me pick a name for our cat")
    cat_follow_up = _recalled(await chat(client, tenant, follow_up, session_id=cat["session_id"]))
    assert any("Biscuit" in text for text in cat_follow_up)
    assert not any("Facebook" in text for text in cat_follow_up)


async def test_another_tenants_memory_is_never_recalled(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner = await create_tenant(client)
    other = await create_tenant(client)
    await seed_session(app, owner, [FACEBOOK])
    assert (await chat(client, other, FACEBOOK[0]))["recalled"] == []
    assert any("margins were thin" in text for text in _recalled(await chat(client, owner, FACEBOOK[0])))
