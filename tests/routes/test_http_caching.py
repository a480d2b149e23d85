"""Compression and conditional GET: gzip for large JSON (never for a stream), ETag + 304 on
stored resources, with tags that follow the content and the tenant."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.agents.fixtures import model_coach
from tests.factories import TenantContext, create_tenant
from tests.routes.test_optimizer import RUNS, create_run, example
from tests.services.coach.fake_llm import FakeLlmServer, Scripted, ollama_chat

__all__ = ["model_coach"]

GZIP = {"Accept-Encoding": "gzip"}


async def _raw_get(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would otherwise decode gzip itself)."""
    async with client.stream("GET", path, headers=headers) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_large_json_is_gzipped_for_a_client_that_accepts_it(client: httpx.AsyncClient) -> None:
    response, raw = await _raw_get(client, "/openapi.json", GZIP)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    document = json.loads(gzip.decompress(raw))
    assert document["openapi"].startswith("3.") and len(raw) < len(json.dumps(document)) / 4


async def test_no_gzip_without_accept_encoding_nor_for_small_bodies(client: httpx.AsyncClient) -> None:
    plain, raw = await _raw_get(client, "/openapi.json", {"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and json.loads(raw)["openapi"]
    small, raw = await _raw_get(client, "/api/health", GZIP)
    assert small.status_code == 200 and "content-encoding" not in small.headers
    assert json.loads(raw)


async def test_the_chat_stream_is_not_gzipped(client: httpx.AsyncClient, model_coach: FakeLlmServer) -> None:
    tenant = await create_tenant(client)
    answer = "Revenue is steady this month, with no single driver standing out. " * 40
    model_coach.script("/api/chat", Scripted(ollama_chat(answer)))
    async with client.stream(
        "POST", "/api/v1/coach/chat/stream", headers={**tenant.headers, **GZIP}, json={"message": "Revenue?"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert b"event: final" in raw


async def _run(client: httpx.AsyncClient, tenant: TenantContext) -> str:
    created = await create_run(client, tenant.headers, "budget_allocation", example("budget_allocation"))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_a_stored_run_has_an_etag_and_a_matching_get_is_304(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    run_id = await _run(client, tenant)
    first = await client.get(f"{RUNS}/{run_id}", headers=tenant.headers)
    assert first.status_code == 200 and first.json()["id"] == run_id
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and "private" in first.headers["cache-control"]

    again = await client.get(f"{RUNS}/{run_id}", headers={**tenant.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    # A list of tags, and the strong form of the same tag, match too; another tag does not.
    listed = {**tenant.headers, "If-None-Match": f'"other", {etag.removeprefix("W/")}'}
    assert (await client.get(f"{RUNS}/{run_id}", headers=listed)).status_code == 304
    stale = {**tenant.headers, "If-None-Match": 'W/"0123"'}
    assert (await client.get(f"{RUNS}/{run_id}", headers=stale)).status_code == 200


async def test_a_changed_run_gets_a_new_etag(client: httpx.AsyncClient, owner_engine: AsyncEngine) -> None:
    tenant = await create_tenant(client)
    run_id = await _run(client, tenant)
    before = await client.get(f"{RUNS}/{run_id}", headers=tenant.headers)
    async with owner_engine.begin() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        changed = await connection.execute(
            text("update optimization_runs set objective = objective + 1 where id = :id"),
            {"id": uuid.UUID(run_id)},
        )
        assert changed.rowcount == 1
    after = await client.get(
        f"{RUNS}/{run_id}", headers={**tenant.headers, "If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.json()["objective"] == before.json()["objective"] + 1
    assert after.headers["etag"] != before.headers["etag"]


async def test_etags_differ_between_tenants_and_never_reveal_another_tenants_run(
    client: httpx.AsyncClient,
) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    a_run, b_run = await _run(client, a), await _run(client, b)
    a_tag = (await client.get(f"{RUNS}/{a_run}", headers=a.headers)).headers["etag"]
    b_tag = (await client.get(f"{RUNS}/{b_run}", headers=b.headers)).headers["etag"]
    assert a_tag != b_tag
    # B presenting A's tag for A's run learns nothing: 404, not 304.
    probe = await client.get(f"{RUNS}/{a_run}", headers={**b.headers, "If-None-Match": a_tag})
    assert probe.status_code == 404
