"""GET /api/v1/coach/usage: the tenant's LLM spend by day and provider, and its budget."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from backend.models import LlmUsage
from backend.utils.database import Database
from tests.factories import create_tenant, create_tenant_in_zone, invite_and_activate


async def add_usage(app: FastAPI, tenant_id: uuid.UUID, rows: list[dict[str, object]]) -> None:
    database: Database = app.state.database
    async with database.tenant_session(tenant_id) as session:
        for row in rows:
            values: dict[str, object] = {
                "tokens_in": 100,
                "tokens_out": 20,
                "cost_dollars": 0.0,
                "latency_ms": 50,
                "outcome": "success",
                "model": "llama-test",
                **row,
            }
            session.add(LlmUsage(tenant_id=tenant_id, **values))


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


async def test_usage_groups_spend_by_day_and_provider_within_the_range(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    tenant = await create_tenant(client)
    other = await create_tenant(client)
    await add_usage(
        app,
        tenant.tenant_id,
        [
            {"provider": "ollama", "created_at": at(10)},
            {"provider": "ollama", "created_at": at(10, 15), "tokens_estimated": True},
            {"provider": "openai", "model": "gpt-4o-mini", "cost_dollars": 0.25, "created_at": at(10)},
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "outcome": "timeout",
                "tokens_in": 0,
                "tokens_out": 0,
                "created_at": at(11),
            },
            {"provider": "openai", "model": "gpt-4o-mini", "cost_dollars": 0.5, "created_at": at(11)},
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "cost_dollars": 9.0,
                "created_at": datetime(2026, 2, 1, tzinfo=UTC),
            },
        ],
    )
    await add_usage(
        app,
        other.tenant_id,
        [{"provider": "openai", "model": "gpt-4o", "cost_dollars": 7.0, "created_at": at(10)}],
    )

    response = await client.get(
        "/api/v1/coach/usage", params={"start": "2026-01-10", "end": "2026-01-31"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"], body["timezone"]) == ("2026-01-10", "2026-01-31", "UTC")
    days = [
        (d["day"], d["provider"], d["requests"], d["failed_requests"], d["cost_dollars"])
        for d in body["days"]
    ]
    assert days == [
        ("2026-01-10", "ollama", 2, 0, 0.0),
        ("2026-01-10", "openai", 1, 0, 0.25),
        ("2026-01-11", "openai", 2, 1, 0.5),
    ]
    assert body["days"][0]["estimated_requests"] == 1 and body["days"][0]["tokens_in"] == 200
    assert body["total_requests"] == 5
    assert body["total_cost_dollars"] == pytest.approx(0.75)
    providers = {p["provider"]: (p["requests"], p["cost_dollars"]) for p in body["providers"]}
    assert providers == {"ollama": (2, 0.0), "openai": (3, pytest.approx(0.75))}


async def test_days_follow_the_tenant_time_zone(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant_in_zone(client, "America/New_York")
    await add_usage(
        app, tenant.tenant_id, [{"provider": "ollama", "created_at": at(11, 3)}]
    )  # 22:00 on the 10th
    body = (
        await client.get(
            "/api/v1/coach/usage", params={"start": "2026-01-10", "end": "2026-01-10"}, headers=tenant.headers
        )
    ).json()
    assert [d["day"] for d in body["days"]] == ["2026-01-10"]


async def test_default_range_is_this_month_with_the_budget(client: httpx.AsyncClient, app: FastAPI) -> None:
    tenant = await create_tenant(client)
    now = datetime.now(UTC)
    await add_usage(
        app,
        tenant.tenant_id,
        [{"provider": "openai", "model": "gpt-4o-mini", "cost_dollars": 1.5, "created_at": now}],
    )
    body = (await client.get("/api/v1/coach/usage", headers=tenant.headers)).json()
    assert body["start"] == now.date().replace(day=1).isoformat()
    assert body["end"] == now.date().isoformat()
    budget = body["budget"]
    default_budget = app.state.settings.llm.monthly_budget_dollars
    assert budget["month_spend_dollars"] == pytest.approx(1.5)
    assert budget["monthly_budget_dollars"] == default_budget
    assert budget["remaining_dollars"] == pytest.approx(max(default_budget - 1.5, 0))
    assert budget["cloud_allowed"] is True
    assert budget["local_share_this_month"] == 0.0


async def test_viewers_can_read_usage_but_a_reversed_range_is_422(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    assert (await client.get("/api/v1/coach/usage", headers=viewer)).status_code == 200
    reversed_range = await client.get(
        "/api/v1/coach/usage", params={"start": "2026-02-01", "end": "2026-01-01"}, headers=tenant.headers
    )
    assert reversed_range.status_code == 422
    assert reversed_range.json()["error"]["code"] == "validation_failed"


async def test_usage_needs_credentials(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/coach/usage")).status_code == 401
