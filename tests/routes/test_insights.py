"""Follows, the insight feed and the engine's run, through the API on the real database."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from tests.factories import TenantContext, create_goal, create_tenant, invite_and_activate, problem_context

STORES = {"north": 500.0, "south": 300.0, "east": 200.0}
RHYTHM = (0.9, 0.85, 0.9, 0.95, 1.1, 1.25, 1.05)


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)  # test tenants live in UTC


async def seed_daily(
    client: httpx.AsyncClient,
    tenant: TenantContext,
    metric: str = "revenue",
    *,
    days: int = 140,
    planted: dict[date, float] | None = None,
    seed: int = 7,
) -> None:
    """``days`` of daily points per store ending yesterday, noise 5%; ``planted`` multiplies days."""
    rng = np.random.default_rng(seed)
    declared = await client.put(
        f"/api/v1/metrics/{metric}", headers=tenant.headers, json={"favourable_direction": "up"}
    )
    assert declared.status_code in (200, 201), declared.text
    points: list[dict[str, Any]] = []
    for offset in range(days, 0, -1):
        day = _yesterday() - timedelta(days=offset - 1)
        factor = (planted or {}).get(day, 1.0)
        for store, level in STORES.items():
            value = level * RHYTHM[day.weekday()] * math.exp(rng.normal(0, 0.05)) * factor
            points.append(
                {
                    "metric": metric,
                    "ts": f"{day}T12:00:00Z",
                    "value": round(value, 2),
                    "dimensions": {"store": store},
                }
            )
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


async def _follow(
    client: httpx.AsyncClient, tenant: TenantContext, metric: str = "revenue"
) -> httpx.Response:
    return await client.post("/api/v1/insights/follows", headers=tenant.headers, json={"metric": metric})


async def _run(client: httpx.AsyncClient, tenant: TenantContext) -> dict[str, Any]:
    response = await client.post("/api/v1/insights/run", headers=tenant.headers, json={})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _feed(client: httpx.AsyncClient, tenant: TenantContext, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/insights", headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_following_an_unknown_metric_is_not_found_and_stores_nothing(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await _follow(client, tenant, "no_such_metric")
    assert response.status_code == 404
    assert problem_context(response.json()["error"]) == {"metric": "no_such_metric"}
    listed = await client.get("/api/v1/insights/follows", headers=tenant.headers)
    assert listed.json()["total"] == 0


async def test_a_bad_metric_name_or_extra_field_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    assert (await _follow(client, tenant, "Not A Name")).status_code == 422
    extra = await client.post(
        "/api/v1/insights/follows",
        headers=tenant.headers,
        json={"metric": "revenue", "user_id": str(uuid.uuid4())},
    )
    assert extra.status_code == 422


async def test_follow_twice_conflicts_and_unfollow_ends_it(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, days=14)
    first = await _follow(client, tenant)
    assert first.status_code == 201, first.text
    assert first.json()["metric"] == "revenue"
    assert (await _follow(client, tenant)).status_code == 409
    listed = await client.get("/api/v1/insights/follows", headers=tenant.headers)
    assert [f["metric"] for f in listed.json()["items"]] == ["revenue"]
    gone = await client.delete("/api/v1/insights/follows/revenue", headers=tenant.headers)
    assert gone.status_code == 204
    again = await client.delete("/api/v1/insights/follows/revenue", headers=tenant.headers)
    assert again.status_code == 404


async def test_the_run_finds_a_planted_drop_once_however_often_it_runs(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, planted={_yesterday(): 0.4})
    assert (await _follow(client, tenant)).status_code == 201

    first = await _run(client, tenant)
    assert first["scope"] == "followed" and first["metrics"] == ["revenue"]
    assert first["created"] >= 1
    second = await _run(client, tenant)
    assert second["found"] == first["found"] and second["created"] == 0

    feed = await _feed(client, tenant, type="unusual_value")
    assert feed["total"] == 1
    [insight] = feed["items"]
    assert insight["period_start"] == _yesterday().isoformat()
    assert insight["numbers"]["value"] < insight["numbers"]["reference"]
    assert insight["numbers"]["score"] <= -insight["numbers"]["threshold"]
    assert insight["severity"] in ("medium", "high")  # a drop of a metric whose favourable direction is up
    assert "unusually low" in insight["sentence"]
    assert insight["read_at"] is None and insight["suggested_action"] is None


async def test_read_and_snooze_are_per_user_state_of_the_feed(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, planted={_yesterday(): 0.4})
    await _follow(client, tenant)
    await _run(client, tenant)
    total = (await _feed(client, tenant))["total"]
    insight_id = (await _feed(client, tenant, type="unusual_value"))["items"][0]["id"]

    read = await client.post(f"/api/v1/insights/{insight_id}/read", headers=tenant.headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert (await _feed(client, tenant, unread=True))["total"] == total - 1
    assert [i["id"] for i in (await _feed(client, tenant, unread=False))["items"]] == [insight_id]

    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    snoozed = await client.post(
        f"/api/v1/insights/{insight_id}/snooze", headers=tenant.headers, json={"until": until}
    )
    assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"] is not None
    assert (await _feed(client, tenant))["total"] == total - 1
    assert (await _feed(client, tenant, include_snoozed=True))["total"] == total


async def test_a_snooze_in_the_past_or_too_far_ahead_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, planted={_yesterday(): 0.4})
    await _follow(client, tenant)
    await _run(client, tenant)
    insight_id = (await _feed(client, tenant))["items"][0]["id"]
    for until in (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(days=200)):
        response = await client.post(
            f"/api/v1/insights/{insight_id}/snooze", headers=tenant.headers, json={"until": until.isoformat()}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["problems"][0]["field"] == "until"
    naive = await client.post(
        f"/api/v1/insights/{insight_id}/snooze", headers=tenant.headers, json={"until": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 422
    item = await client.get(f"/api/v1/insights/{insight_id}", headers=tenant.headers)
    assert item.json()["snoozed_until"] is None


async def test_the_followed_filter_keeps_metrics_the_user_follows(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, "revenue", planted={_yesterday(): 0.4})
    await seed_daily(client, tenant, "orders", planted={_yesterday(): 0.4}, seed=8)
    await _follow(client, tenant, "revenue")
    await _follow(client, tenant, "orders")
    await _run(client, tenant)
    assert {i["metric"] for i in (await _feed(client, tenant))["items"]} == {"revenue", "orders"}
    await client.delete("/api/v1/insights/follows/orders", headers=tenant.headers)
    followed = await _feed(client, tenant, followed=True)
    assert {i["metric"] for i in followed["items"]} == {"revenue"}


async def test_another_tenant_sees_none_of_the_feed(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    other = await create_tenant(client)
    await seed_daily(client, tenant, planted={_yesterday(): 0.4})
    await _follow(client, tenant)
    await _run(client, tenant)
    insight_id = (await _feed(client, tenant))["items"][0]["id"]

    assert (await _feed(client, other))["total"] == 0
    assert (await client.get(f"/api/v1/insights/{insight_id}", headers=other.headers)).status_code == 404
    assert (
        await client.post(f"/api/v1/insights/{insight_id}/read", headers=other.headers)
    ).status_code == 404
    # Another tenant's metric is unknown here too, and its run judges nothing of the first tenant's.
    assert (await _follow(client, other)).status_code == 404
    assert (await _run(client, other))["metrics"] == []
    mine = await client.get(f"/api/v1/insights/{insight_id}", headers=tenant.headers)
    assert mine.json()["read_at"] is None


async def test_with_no_follows_the_run_watches_metrics_with_a_favourable_direction(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, "revenue", days=30)
    response = await client.post(
        "/api/v1/metrics",
        headers=tenant.headers,
        json={"points": [{"metric": "visits", "ts": f"{_yesterday()}T10:00:00Z", "value": 3}]},
    )
    assert response.status_code == 200
    summary = await _run(client, tenant)
    assert summary["scope"] == "favourable_direction" and summary["metrics"] == ["revenue"]


async def test_a_goal_that_will_be_missed_is_an_insight_linked_to_it(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_daily(client, tenant, days=140)
    goal = await create_goal(client, tenant.headers, target_value=500_000, baseline_value=30_000, days=60)
    await _run(client, tenant)
    [insight] = (await _feed(client, tenant, type="goal_at_risk"))["items"]
    assert insight["links"]["goal_id"] == goal["id"]
    assert insight["numbers"]["target"] == 500_000
    assert insight["severity"] in ("medium", "high")
    assert goal["title"] in insight["sentence"]


async def test_asking_for_a_job_queues_the_run(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.post("/api/v1/insights/run", headers=tenant.headers, json={"async": True})
    assert response.status_code == 202, response.text
    job = await client.get(response.headers["Location"], headers=tenant.headers)
    assert job.status_code == 200 and job.json()["kind"] == "insights.run"
    waiting = await client.post("/api/v1/insights/run", headers=tenant.headers, json={"async": True})
    assert waiting.status_code == 409, waiting.text  # one run of a tenant waits at a time


async def test_a_bad_run_request_or_a_viewer_is_refused_and_queues_nothing(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    for body in ({"async": "perhaps"}, {"metrics": ["revenue"]}):
        response = await client.post("/api/v1/insights/run", headers=tenant.headers, json=body)
        assert response.status_code == 422, body
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    assert (await client.post("/api/v1/insights/run", headers=viewer, json={})).status_code == 403
    jobs = await client.get("/api/v1/jobs", headers=tenant.headers, params={"kind": "insights.run"})
    assert jobs.json()["total"] == 0


async def test_feed_filters_are_validated(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    for params in ({"type": "gossip"}, {"metric": "Bad Name"}, {"unread": "perhaps"}, {"limit": 0}):
        response = await client.get("/api/v1/insights", headers=tenant.headers, params=params)
        assert response.status_code == 422, params
    unknown = await client.get(f"/api/v1/insights/{uuid.uuid4()}", headers=tenant.headers)
    assert unknown.status_code == 404
    assert (await client.get("/api/v1/insights/not-a-uuid", headers=tenant.headers)).status_code == 422
