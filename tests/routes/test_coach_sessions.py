"""Coaching sessions and semantic search over HTTP, and their tenant isolation."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from backend.services.coach import memory
from backend.services.coach.memory import NewMessage
from backend.utils.database import Database
from tests.factories import TenantContext, create_tenant, invite_and_activate


async def seed_session(
    app: FastAPI, tenant: TenantContext, exchanges: list[tuple[str, str]], *, user_id: uuid.UUID | None = None
) -> uuid.UUID:
    database: Database = app.state.database
    async with database.tenant_session(tenant.tenant_id) as session:
        coaching = await memory.create_session(
            session, user_id=user_id or tenant.owner_id, title=exchanges[0][0][:40]
        )
        for question, answer in exchanges:
            await memory.store_messages(
                session,
                app.state.coach.embeddings,
                coaching.id,
                [NewMessage("user", question), NewMessage("assistant", answer)],
            )
        return coaching.id


async def test_sessions_list_get_and_delete(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant(client)
    first = await seed_session(app, tenant, [("How are sales?", "Sales rose 4% week over week.")])
    second = await seed_session(app, tenant, [("Forecast orders", "Orders should reach 1,200 next month.")])

    listed = await client.get("/api/v1/coach/sessions", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [str(second), str(first)]  # most recent first
    assert body["items"][0]["message_count"] == 2

    detail = await client.get(f"/api/v1/coach/sessions/{first}", headers=tenant.headers)
    assert detail.status_code == 200
    messages = detail.json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "How are sales?"),
        ("assistant", "Sales rose 4% week over week."),
    ]
    assert "embedding" not in messages[0]

    deleted = await client.delete(f"/api/v1/coach/sessions/{first}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/v1/coach/sessions/{first}", headers=tenant.headers)).status_code == 404
    assert (await client.get("/api/v1/coach/sessions", headers=tenant.headers)).json()["total"] == 1


async def test_mine_lists_only_the_callers_sessions(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant(client)
    analyst_id, analyst = await invite_and_activate(client, tenant, role="analyst")
    await seed_session(app, tenant, [("Owner question", "Owner answer")])
    theirs = await seed_session(app, tenant, [("Analyst question", "Analyst answer")], user_id=analyst_id)
    mine = (await client.get("/api/v1/coach/sessions", params={"mine": "true"}, headers=analyst)).json()
    assert [item["id"] for item in mine["items"]] == [str(theirs)]
    everyone = (await client.get("/api/v1/coach/sessions", headers=analyst)).json()
    assert everyone["total"] == 2


async def test_analyst_cannot_delete_someone_elses_session(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant(client)
    _, analyst = await invite_and_activate(client, tenant, role="analyst")
    owners = await seed_session(app, tenant, [("Owner question", "Owner answer")])
    response = await client.delete(f"/api/v1/coach/sessions/{owners}", headers=analyst)
    assert response.status_code == 403


async def test_search_finds_the_relevant_exchange(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant(client)
    await seed_session(
        app,
        tenant,
        [
            (
                "Which ad channel brought the most customers in March?",
                "Instagram ads brought 240 new customers.",
            ),
            ("How many baristas do I need on Saturday?", "Three baristas cover the Saturday peak."),
        ],
    )
    response = await client.get(
        "/api/v1/coach/search",
        params={"q": "staffing the weekend coffee shift", "limit": 4},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["embedding_model"] == "local:all-MiniLM-L6-v2"
    assert "barista" in body["items"][0]["content"]
    similarities = [item["similarity"] for item in body["items"]]
    assert similarities == sorted(similarities, reverse=True)


async def test_another_tenant_sees_neither_sessions_nor_search_hits(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await create_tenant(client)
    intruder = await create_tenant(client)
    session_id = await seed_session(app, owner, [("Our secret margin plan", "Raise prices 7% on espresso.")])

    assert (
        await client.get(f"/api/v1/coach/sessions/{session_id}", headers=intruder.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/coach/sessions/{session_id}", headers=intruder.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/coach/sessions", headers=intruder.headers)).json()["total"] == 0
    search = await client.get(
        "/api/v1/coach/search", params={"q": "secret margin plan"}, headers=intruder.headers
    )
    assert search.status_code == 200 and search.json()["items"] == []
    # The owner's data is untouched by the attempts.
    assert (
        await client.get(f"/api/v1/coach/sessions/{session_id}", headers=owner.headers)
    ).status_code == 200


async def test_empty_search_query_is_422(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.get("/api/v1/coach/search", params={"q": ""}, headers=tenant.headers)
    assert response.status_code == 422


async def test_forgetting_a_session_removes_its_messages_and_embeddings(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    tenant = await create_tenant(client)
    intruder = await create_tenant(client)
    forgotten = await seed_session(app, tenant, [("Our supplier Acme is late again", "Noted: Acme is late.")])
    kept = await seed_session(app, tenant, [("Acme delivered the teapots", "Good: teapots in stock.")])
    path = f"/api/v1/coach/sessions/{forgotten}"
    assert (await client.delete(path, headers=intruder.headers)).status_code == 404
    assert (await client.get(path, headers=tenant.headers)).status_code == 200

    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    database: Database = app.state.database
    async with database.tenant_session(tenant.tenant_id) as session:
        statement = text(
            "select session_id, embedding is not null from coaching_messages where session_id in (:a, :b)"
        )
        rows = (await session.execute(statement, {"a": forgotten, "b": kept})).all()
    assert {(row[0], row[1]) for row in rows} == {(kept, True)}
    search = await client.get("/api/v1/coach/search", params={"q": "Acme supplier"}, headers=tenant.headers)
    assert {item["session_id"] for item in search.json()["items"]} == {str(kept)}
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    assert (await client.delete(path, headers=tenant.headers)).status_code == 404
