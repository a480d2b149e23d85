"""Marketing-mix models through the API: fit from ingested metrics, read back, plan a budget on the
fitted curves, refuse data no model can learn from (422 naming the problem, nothing stored or
queued), and run large or ``async`` fits as jobs with progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.services.evidence.mmm_service import SYNC_MAX_MMM_WORK, MmmSize, background_reason, mmm_work
from backend.services.evidence.types import MmmSpec
from backend.services.workload import Requester
from backend.utils.database_urls import DatabaseUrls
from tests.factories import TenantContext, create_tenant
from tests.jobs.support import run_fast_retry_jobs
from tests.services.evidence.mmm_synthetic import CHANNELS, MmmTruth, TrueChannel, simulate_mmm

START = datetime(2024, 1, 1, 12, tzinfo=UTC)
TWO_CHANNELS = CHANNELS[:2]  # search: high marginal ROI at its spend; social: saturated, low


async def _ingest(client: httpx.AsyncClient, tenant: TenantContext, series: dict[str, np.ndarray]) -> None:
    points = [
        {"metric": name, "ts": (START + timedelta(days=i)).isoformat(), "value": float(value)}
        for name, values in series.items()
        for i, value in enumerate(values)
    ]
    for offset in range(0, len(points), 10_000):
        response = await client.post(
            "/api/v1/metrics", json={"points": points[offset : offset + 10_000]}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text


async def shop_with_planted_mmm(
    client: httpx.AsyncClient, channels: tuple[TrueChannel, ...] = TWO_CHANNELS
) -> tuple[MmmTruth, TenantContext]:
    """A new tenant holding two years of daily data with a known marketing-mix truth over ``channels``."""
    truth = simulate_mmm(seed=11, channels=channels)
    tenant = await create_tenant(client)
    await _ingest(client, tenant, {c: truth.frame[c].to_numpy().round(2) for c in truth.frame.columns})
    return truth, tenant


async def fit_two_channels(client: httpx.AsyncClient, tenant: TenantContext) -> dict[str, Any]:
    """The model fitted (in the request) on the tenant's search and social spend; the stored model."""
    body = {"outcome": "revenue", "channels": ["search_spend", "social_spend"], "bootstrap_draws": 8}
    fitted = await client.post("/api/v1/evidence/mmm", json=body, headers=tenant.headers)
    assert fitted.status_code == 201, fitted.text
    model: dict[str, Any] = fitted.json()
    return model


async def _stored_models(owner_engine: AsyncEngine, tenant: TenantContext) -> int:
    async with owner_engine.connect() as connection:
        await connection.execute(
            text("select set_config('app.tenant_id', :t, false)"), {"t": str(tenant.tenant_id)}
        )
        count = await connection.scalar(text("select count(*) from marketing_mix_models"))
        await connection.execute(text("select set_config('app.tenant_id', '', false)"))
    return int(count or 0)


async def test_budget_plan_is_built_from_a_fitted_model_and_favours_the_higher_marginal_roi(
    client: httpx.AsyncClient,
) -> None:
    truth, tenant = await shop_with_planted_mmm(client)
    model = await fit_two_channels(client, tenant)
    channels = {c["name"]: c for c in model["channels"]}
    for name, roi in truth.roi.items():
        assert abs(channels[name]["roi"]["value"] - roi) / roi < 0.25, (name, channels[name]["roi"], roi)
    assert (
        channels["search_spend"]["marginal_roi"]["value"] > channels["social_spend"]["marginal_roi"]["value"]
    )
    decomposition = model["decomposition"]
    total = np.add(decomposition["baseline"], np.sum(list(decomposition["channels"].values()), axis=0))
    assert model["fit"]["r2"] > 0.8 and model["fit"]["holdout_r2"] is not None
    assert np.corrcoef(total, decomposition["outcome"])[0, 1] > 0.9
    again = await client.get(f"/api/v1/evidence/mmm/{model['id']}", headers=tenant.headers)
    assert again.status_code == 200 and again.json()["channels"] == model["channels"]

    # Next month's budget at the historical daily spends: the plan shifts toward search.
    mean_spend = {c.name: float(truth.frame[c.name].mean()) for c in TWO_CHANNELS}
    budget = 30 * sum(mean_spend.values())
    run = await client.post(
        "/api/v1/optimizer/runs",
        json={
            "template": "budget_allocation",
            "params": {"mmm_model_id": model["id"], "total_budget": budget, "spend_entire_budget": True},
        },
        headers=tenant.headers,
    )
    assert run.status_code == 201, run.text
    result = run.json()
    plan = {name.removeprefix("spend."): value for name, value in result["result"]["decisions"].items()}
    historical_share = mean_spend["search_spend"] / sum(mean_spend.values())
    assert plan["search_spend"] / budget > historical_share + 0.05, plan
    assert result["params"]["mmm_model_id"] == model["id"]
    assert len(result["params"]["channels"]) == 2


async def test_hand_built_curves_still_plan_a_budget(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    curve = [{"spend": 0, "revenue": 0}, {"spend": 100, "revenue": 300}, {"spend": 200, "revenue": 400}]
    run = await client.post(
        "/api/v1/optimizer/runs",
        json={
            "template": "budget_allocation",
            "params": {"total_budget": 150, "channels": [{"name": "a", "response_curve": curve}]},
        },
        headers=tenant.headers,
    )
    assert run.status_code == 201, run.text


async def test_unknown_model_id_is_not_found_for_a_budget_plan(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    run = await client.post(
        "/api/v1/optimizer/runs",
        json={
            "template": "budget_allocation",
            "params": {"mmm_model_id": "00000000-0000-4000-8000-000000000000", "total_budget": 100},
        },
        headers=tenant.headers,
    )
    assert run.status_code == 404, run.text


async def test_data_no_model_can_learn_from_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    rng = np.random.default_rng(5)
    days = 200
    search = rng.uniform(50, 150, days).round(2)
    tenant = await create_tenant(client)
    await _ingest(
        client,
        tenant,
        {
            "revenue": (1000 + 2 * search + rng.normal(0, 10, days)).round(2),
            "search_spend": search,
            "zero_spend": np.zeros(days),
            "flat_spend": np.full(days, 40.0),
            "twin_spend": search * 2,
            "short_revenue": rng.normal(100, 5, days)[:30].round(2),
        },
    )
    cases = {
        "all_zero_spend": {"channels": ["search_spend", "zero_spend"]},
        "constant_spend": {"channels": ["search_spend", "flat_spend"]},
        "collinear_channels": {"channels": ["search_spend", "twin_spend"]},
        "unknown_metrics": {"channels": ["search_spend", "no_such_spend"]},
        "too_short_history": {"outcome": "short_revenue", "channels": ["search_spend"]},
    }
    for code, overrides in cases.items():
        for run_async in (False, True):  # checked before anything is queued
            body = {"outcome": "revenue", "bootstrap_draws": 0, "async": run_async, **overrides}
            response = await client.post("/api/v1/evidence/mmm", json=body, headers=tenant.headers)
            assert response.status_code == 422, (code, response.text)
            error = response.json()["error"]
            assert error["code"] == code, (code, error)
    assert "required" in error["details"]["problems"][0]
    assert await _stored_models(owner_engine, tenant) == 0
    assert (await client.get("/api/v1/jobs", headers=tenant.headers)).json()["total"] == 0
    other = await create_tenant(client)
    missing = await client.get(f"/api/v1/evidence/mmm/{tenant.tenant_id}", headers=other.headers)
    assert missing.status_code == 404


async def test_coach_splits_a_stated_budget_with_the_newest_model(client: httpx.AsyncClient) -> None:
    _, tenant = await shop_with_planted_mmm(client)
    asked = "How should I split next month's $10,000 ad budget across channels?"
    # With the data but no model, the coach says what it needs instead of inventing curves.
    before = await client.post("/api/v1/coach/chat", json={"message": asked}, headers=tenant.headers)
    assert before.status_code == 200, before.text
    assert "/api/v1/evidence/mmm" in before.json()["reply"]
    fitted = await fit_two_channels(client, tenant)

    answer = await client.post("/api/v1/coach/chat", json={"message": asked}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert "optimizer" in reply["agents"]
    runs = [a["path"] for a in reply["suggested_actions"] if a["path"].startswith("/api/v1/optimizer/runs/")]
    assert runs, reply["suggested_actions"]
    run = (await client.get(runs[0], headers=tenant.headers)).json()
    assert run["params"]["mmm_model_id"] == fitted["id"]
    assert run["params"]["total_budget"] == 10_000
    spends = run["result"]["decisions"]
    assert 0 < sum(spends.values()) <= 10_000 * (1 + 1e-9)
    # Every spend of the stored plan is in the reply, as cited.
    shown = {round(c["value"], 2): c["display"] for c in reply["citations"]}
    for value in spends.values():
        assert round(value, 2) in shown, (value, shown)
        assert shown[round(value, 2)] in reply["reply"]


async def test_an_async_fit_runs_as_a_job_with_progress_and_stores_a_readable_model(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls
) -> None:
    _, tenant = await shop_with_planted_mmm(client)
    body = {"outcome": "revenue", "channels": ["search_spend", "social_spend"], "bootstrap_draws": 12}
    queued = await client.post("/api/v1/evidence/mmm", json={**body, "async": True}, headers=tenant.headers)
    assert queued.status_code == 202, queued.text
    assert queued.json()["reason"] == "requested"
    await run_fast_retry_jobs(settings, database_urls, "evidence")
    job = (await client.get(queued.json()["status_url"], headers=tenant.headers)).json()
    assert (job["kind"], job["status"], job["progress"]) == ("evidence.mmm_fit", "succeeded", 100), job
    assert job["message"] == "point fit done; 12/12 bootstrap refits"  # the last progress reported
    model = await client.get(f"/api/v1/evidence/mmm/{job['result']['model_id']}", headers=tenant.headers)
    assert model.status_code == 200, model.text
    assert model.json()["bootstrap_draws"] == 12
    assert [c["name"] for c in model.json()["channels"]] == ["search_spend", "social_spend"]


def test_the_size_rule_keeps_two_years_daily_in_the_request_and_queues_the_worst_case() -> None:
    daily = MmmSize(buckets=730, calendar_columns=14)
    default = MmmSpec(outcome="revenue", channels=[c.name for c in CHANNELS])
    assert mmm_work(default, daily) == 730 * (3 * 3 + 14 + 1) ** 2 * (30 + 4)
    assert background_reason(default, daily) is None
    assert Requester(wants_job=True).queue_reason(background_reason(default, daily)) == "requested"
    worst = MmmSpec(outcome="revenue", channels=[f"c{i}" for i in range(10)], bootstrap_draws=100)
    reason = background_reason(worst, MmmSize(buckets=1500, calendar_columns=14))
    assert reason is not None and f"= {1500 * 45**2 * 104:,} exceeds" in reason


async def test_a_fit_beyond_the_size_rule_is_queued(client: httpx.AsyncClient) -> None:
    _, tenant = await shop_with_planted_mmm(client, CHANNELS)
    body = {"outcome": "revenue", "channels": [c.name for c in CHANNELS], "bootstrap_draws": 100}
    queued = await client.post("/api/v1/evidence/mmm", json=body, headers=tenant.headers)
    assert queued.status_code == 202, queued.text
    reason = queued.json()["reason"]
    assert reason.startswith("730 buckets x ") and "(3 channels, " in reason and "(100 bootstrap" in reason
    assert int(reason.split(" = ")[1].split()[0].replace(",", "")) > SYNC_MAX_MMM_WORK


async def test_openapi_documents_the_queued_fit(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/api/v1/evidence/mmm"]["post"]
    assert operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/JobAccepted"
    )
    assert f"{SYNC_MAX_MMM_WORK:,}" in operation["description"]
