"""The forecaster through the API: stored backtested forecasts, evaluation, jobs, isolation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import httpx
import numpy as np

from backend.config import Settings
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_tenant, invite_and_activate, problem_context
from tests.jobs.support import run_fast_retry_jobs

FORECASTS = "/api/v1/forecasts"


def _month_start(months_back: int) -> date:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _seasonal(months: int, seed: int = 7) -> list[float]:
    """Trend plus a yearly cycle plus a little noise: what a shop's monthly revenue looks like."""
    rng = np.random.default_rng(seed)
    return [1000 + 8 * t + 150 * math.sin(2 * math.pi * t / 12) + rng.normal(0, 15) for t in range(months)]


async def _seed(client: httpx.AsyncClient, tenant: TenantContext, metric: str, values: list[float]) -> None:
    """Monthly points ending with the last complete month (the tenant's zone is UTC)."""
    points = [
        {"metric": metric, "ts": f"{_month_start(len(values) - i).isoformat()}T00:00:00Z", "value": v}
        for i, v in enumerate(values)
    ]
    response = await client.post("/api/v1/metrics", headers=tenant.headers, json={"points": points})
    assert response.status_code == 200, response.text


async def _seeded_tenant(client: httpx.AsyncClient) -> TenantContext:
    tenant = await create_tenant(client)
    await _seed(client, tenant, "revenue", _seasonal(48))
    return tenant


async def test_a_seasonal_series_gets_a_stored_backtested_forecast(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    created = await client.post(
        FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 6, "frequency": "month"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["frequency"] == "month" and body["season_length"] == 12 and body["n_observations"] == 48
    assert [p["ts"][:10] for p in body["points"]] == [_month_start(-k).isoformat() for k in range(6)]
    for point in body["points"]:
        assert point["lower"]["95"] <= point["lower"]["80"] <= point["mean"] <= point["upper"]["80"]
        assert point["upper"]["80"] <= point["upper"]["95"]
    models = {row["model"] for row in body["backtest"]}
    assert {"seasonal_naive", "naive", "ets", "theta"} <= models
    assert body["model"] in models
    # The cycle is strong: the chosen model beats seasonal naive, and says by how much.
    assert body["improvement_over_seasonal_naive"] is not None
    assert body["scores"]["mase"] is not None
    listed = await client.get(FORECASTS, headers=tenant.headers, params={"metric": "revenue"})
    assert [f["id"] for f in listed.json()["items"]] == [body["id"]]
    # Its intervals say how they were made and how often they covered the backtest.
    assert body["interval_method"] in {"model", "calibrated", "empirical"}
    assert set(body["backtest_coverage"]) == {"80", "95"}
    assert all(0.0 <= share <= 1.0 for share in body["backtest_coverage"].values())
    read = await client.get(f"{FORECASTS}/{body['id']}", headers=tenant.headers)
    assert read.json()["points"] == body["points"]
    assert read.json()["backtest_coverage"] == body["backtest_coverage"]


async def test_frequency_is_inferred_and_unknown_metrics_are_not_found(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    inferred = await client.post(FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 3})
    assert inferred.status_code == 201 and inferred.json()["frequency"] == "month"
    missing = await client.post(
        FORECASTS, headers=tenant.headers, json={"metric": "nothing_here", "horizon": 3}
    )
    assert missing.status_code == 404


async def test_too_little_history_is_a_422_saying_how_much_is_needed(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed(client, tenant, "orders", [10, 12, 11, 13])
    response = await client.post(
        FORECASTS, headers=tenant.headers, json={"metric": "orders", "horizon": 6, "frequency": "month"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"], error
    assert "need" in error["message"].lower() or "at least" in error["message"].lower()


async def test_a_shop_with_two_years_of_months_gets_a_year_ahead_forecast(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _seed(client, tenant, "revenue", _seasonal(24))
    response = await client.post(
        FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 12, "frequency": "month"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["n_observations"] == 24 and len(body["points"]) == 12
    assert any("Short history" in warning for warning in body["warnings"])


async def forecast_six_months_ago(client: httpx.AsyncClient) -> tuple[TenantContext, httpx.Response]:
    """A seeded tenant and its monthly revenue forecast made as of six months ago (201): six actuals since."""
    tenant = await _seeded_tenant(client)
    as_of = f"{_month_start(6).isoformat()}T00:00:00Z"
    made = await client.post(
        FORECASTS,
        headers=tenant.headers,
        json={"metric": "revenue", "horizon": 6, "frequency": "month", "end": as_of},
    )
    assert made.status_code == 201, made.text
    return tenant, made


async def test_a_past_forecast_is_scored_against_the_actuals_that_arrived(client: httpx.AsyncClient) -> None:
    tenant, made = await forecast_six_months_ago(client)
    assert made.json()["n_observations"] == 42
    scored = await client.post(f"{FORECASTS}/{made.json()['id']}/evaluate", headers=tenant.headers)
    assert scored.status_code == 200, scored.text
    evaluation = scored.json()
    assert (evaluation["matched"], evaluation["pending"]) == (6, 0)
    assert evaluation["smape"] is not None and evaluation["smape"] < 20
    assert set(evaluation["coverage"]) == {"80", "95"}
    stored = await client.get(f"{FORECASTS}/{made.json()['id']}", headers=tenant.headers)
    assert stored.json()["scores"]["evaluation"]["matched"] == 6


async def test_background_and_batch_forecasts_run_in_a_worker(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls, database: Database
) -> None:
    tenant = await _seeded_tenant(client)
    await _seed(client, tenant, "orders", [10, 12, 11])
    queued = await client.post(
        FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 4, "async": True}
    )
    batch = await client.post(
        f"{FORECASTS}/batch", headers=tenant.headers, json={"metrics": ["revenue", "orders"], "horizon": 3}
    )
    assert (queued.status_code, batch.status_code) == (202, 202)
    await run_fast_retry_jobs(settings, database_urls, "forecaster")

    job = (await client.get(queued.headers["location"], headers=tenant.headers)).json()
    assert job["status"] == "succeeded", job
    assert (await client.get(job["result"]["forecast_url"], headers=tenant.headers)).status_code == 200
    batch_job = (await client.get(batch.headers["location"], headers=tenant.headers)).json()
    assert batch_job["status"] == "succeeded", batch_job
    assert [f["metric"] for f in batch_job["result"]["forecasts"]] == ["revenue"]
    assert [f["metric"] for f in batch_job["result"]["failed"]] == ["orders"]


async def test_viewers_read_forecasts_but_cannot_make_them(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    made = await client.post(FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 2})
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    assert (await client.get(f"{FORECASTS}/{made.json()['id']}", headers=viewer)).status_code == 200
    denied = await client.post(FORECASTS, headers=viewer, json={"metric": "revenue", "horizon": 2})
    assert denied.status_code == 403


async def test_forecasts_never_cross_tenants(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await _seeded_tenant(client)
    made = await client.post(FORECASTS, headers=b.headers, json={"metric": "revenue", "horizon": 2})
    forecast_id = made.json()["id"]
    assert (await client.get(f"{FORECASTS}/{forecast_id}", headers=a.headers)).status_code == 404
    assert (await client.post(f"{FORECASTS}/{forecast_id}/evaluate", headers=a.headers)).status_code == 404
    assert (await client.get(FORECASTS, headers=a.headers)).json()["total"] == 0
    assert (
        await client.post(FORECASTS, headers=a.headers, json={"metric": "revenue", "horizon": 2})
    ).status_code == 404


async def test_bad_options_are_422(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    for body in ({"horizon": 0}, {"levels": [120]}, {"model": "crystal_ball"}, {"frequency": "fortnight"}):
        response = await client.post(
            FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 3, **body}
        )
        assert response.status_code == 422, body


async def test_a_frequency_finer_than_the_data_is_a_422_saying_why(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    response = await client.post(
        FORECASTS, headers=tenant.headers, json={"metric": "revenue", "horizon": 3, "frequency": "day"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert problem_context(error) == {"metric": "revenue", "frequency": "day", "data_frequency": "month"}
    assert "made-up values" in error["message"]
    listed = await client.get(FORECASTS, headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_the_definitions_non_negative_cuts_forecasts_at_zero_even_after_a_dip(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    # A shrinking quantity whose history dips just below zero (a correction booked as negative):
    # inferred from the history it is not non-negative, so its forecast heads below zero.
    history = [60.0 - 2.0 * t + (3.0 if t % 2 else -3.0) for t in range(36)]
    assert min(history) < 0
    declared = await client.put("/api/v1/metrics/stock", headers=tenant.headers, json={"non_negative": True})
    assert declared.status_code == 200, declared.text
    for metric in ("stock", "stock_inferred"):
        await _seed(client, tenant, metric, history)

    async def lowest(metric: str) -> float:
        created = await client.post(
            FORECASTS,
            headers=tenant.headers,
            json={"metric": metric, "horizon": 6, "frequency": "month", "model": "naive"},
        )
        assert created.status_code == 201, created.text
        points = created.json()["points"]
        return min(min(p["mean"], *p["lower"].values()) for p in points)

    assert await lowest("stock_inferred") < 0
    assert await lowest("stock") == 0.0
