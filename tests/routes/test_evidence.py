"""Evidence API: known-effect recovery from ingested metrics, the stored graph, drivers, what-if,
Granger, background jobs, error cases, roles and tenant isolation.

The synthetic tenant: 150 daily points where ``promo`` (mostly on weekends: a weekly pattern)
raises both ``ad_spend`` and ``revenue``, and each extra unit of ad spend adds
``TRUE_EFFECT`` to revenue. The naive slope of revenue on ad spend is biased upwards by the
promo; adjusting for it recovers the effect. Refuter simulation counts are kept small.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from backend.config import Settings
from backend.services.evidence import service
from backend.services.workload import Requester
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from backend.utils.repository import PageWindow
from tests.factories import TenantContext, create_tenant, invite_and_activate
from tests.jobs.support import run_fast_retry_jobs
from tests.services.evidence.synthetic import shop_series

TRUE_EFFECT = 3.0
DAYS = 150
START = datetime(2025, 1, 1, 12, tzinfo=UTC)
FAST = {"refutation_simulations": 10, "compare_methods": False}


def _synthetic(days: int = DAYS, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weekend = np.array([(START + timedelta(days=i)).weekday() >= 5 for i in range(days)])
    promo = ((weekend & (rng.uniform(size=days) < 0.7)) | (rng.uniform(size=days) < 0.1)).astype(float)
    ad_spend = 100 + 10 * promo + rng.normal(0, 10, days)
    revenue = 500 + TRUE_EFFECT * ad_spend + 200 * promo + rng.normal(0, 20, days)
    return {
        "ad_spend": ad_spend.round(2),
        "revenue": revenue.round(2),
        "promo": promo,
        "noise_a": rng.normal(50, 5, days).round(2),
        "noise_b": rng.normal(10, 2, days).round(2),
    }


async def _ingest(client: httpx.AsyncClient, tenant: TenantContext, series: dict[str, Any]) -> None:
    points = [
        {"metric": name, "ts": (START + timedelta(days=i)).isoformat(), "value": float(value)}
        for name, values in series.items()
        for i, value in enumerate(values)
    ]
    response = await client.post("/api/v1/metrics", json={"points": points}, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def _seeded_tenant(client: httpx.AsyncClient) -> TenantContext:
    tenant = await create_tenant(client)
    await _ingest(client, tenant, _synthetic())
    return tenant


async def _analyze(client: httpx.AsyncClient, tenant: TenantContext, **overrides: Any) -> httpx.Response:
    body = {"outcome": "revenue", "treatment": "ad_spend", "confounders": ["promo"], "options": FAST}
    return await client.post("/api/v1/evidence/analyze", json={**body, **overrides}, headers=tenant.headers)


def _analyses(verdict: str) -> float:
    return REGISTRY.get_sample_value("evidence_analyses_total", {"verdict": verdict}) or 0.0


async def test_analysis_recovers_the_known_effect_and_is_stored_in_the_graph(
    client: httpx.AsyncClient,
) -> None:
    tenant = await _seeded_tenant(client)
    declared = await client.put(
        "/api/v1/metrics/revenue/definition",
        json={"unit": "USD", "aggregation": "sum"},
        headers=tenant.headers,
    )
    assert declared.status_code == 200, declared.text
    supported_before = _analyses("supported")

    response = await _analyze(client, tenant)

    assert response.status_code == 201, response.text
    edge = response.json()
    assert (edge["cause"], edge["effect"]) == ("ad_spend", "revenue")
    assert edge["ci_lower"] <= TRUE_EFFECT <= edge["ci_upper"]
    assert edge["effect_size"] == pytest.approx(TRUE_EFFECT, abs=0.4)
    # The unadjusted slope is confounded by the promo: far above the true effect.
    assert edge["result"]["naive_difference"] > edge["ci_upper"] + 1
    # Besides the promo, the time-series design adjusts for the calendar (day of week, holidays, trend).
    assert edge["result"]["adjustment_set"] == ["promo", *edge["result"]["design"]["calendar_controls"]]
    assert edge["result"]["design"]["kind"] == "time_series"
    assert edge["verdict"] == "supported", edge["reasons"]
    assert {r["name"] for r in edge["result"]["refutations"]} == {
        "placebo_treatment",
        "random_common_cause",
        "data_subset",
        "unobserved_confounder",
        "placebo_in_time",
        "rolling_windows",
    }
    assert edge["table"]["rows"] == DAYS
    assert edge["data_start"].startswith("2025-01-01") and edge["data_end"].startswith("2025-05-31")
    assert _analyses("supported") == supported_before + 1

    stored = await client.get(f"/api/v1/evidence/edges/{edge['id']}", headers=tenant.headers)
    assert stored.status_code == 200
    assert stored.json() == edge

    graph = (await client.get("/api/v1/evidence/graph", headers=tenant.headers)).json()
    assert [(e["id"], e["source"], e["target"]) for e in graph["edges"]] == [
        (edge["id"], "ad_spend", "revenue")
    ]
    assert {n["id"]: n["unit"] for n in graph["nodes"]} == {"ad_spend": None, "revenue": "USD"}
    refuted_only = await client.get(
        "/api/v1/evidence/graph", params={"verdict": "not_supported"}, headers=tenant.headers
    )
    assert refuted_only.json() == {"nodes": [], "edges": []}


async def test_graph_shows_only_the_newest_evidence_per_pair(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    unadjusted = (await _analyze(client, tenant, confounders=[])).json()
    # Adjusts for nothing beyond the calendar: an association only.
    assert unadjusted["verdict"] == "not_supported"
    adjusted = (await _analyze(client, tenant)).json()

    graph = (await client.get("/api/v1/evidence/graph", headers=tenant.headers)).json()
    assert [e["id"] for e in graph["edges"]] == [adjusted["id"]]
    # The older, overturned evidence does not resurface under its own verdict.
    old_verdict = await client.get(
        "/api/v1/evidence/graph", params={"verdict": "not_supported"}, headers=tenant.headers
    )
    assert old_verdict.json()["edges"] == []
    history = (await client.get("/api/v1/evidence/edges", headers=tenant.headers)).json()
    assert [item["id"] for item in history["items"]] == [adjusted["id"], unadjusted["id"]]


async def test_lags_add_lag_columns_and_granger_tests(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)

    edge = (await _analyze(client, tenant, lags=[1, 2])).json()

    assert edge["table"]["treatment_lag_columns"] == ["ad_spend_lag1", "ad_spend_lag2"]
    assert edge["result"]["adjustment_set"] == [
        "promo",
        "ad_spend_lag1_minus_now",
        "ad_spend_lag2_minus_now",
        *edge["result"]["design"]["calendar_controls"],
    ]
    # With lags the main estimate is the long-run effect (no carry-over here: the same 3.0).
    effects = edge["result"]["lag_effects"]
    assert edge["effect_size"] == pytest.approx(effects["cumulative"]["value"])
    assert effects["immediate"]["ci_low"] <= TRUE_EFFECT <= effects["immediate"]["ci_high"]
    # Three coefficients summed on 150 days: a statistical margin, not an exact interval test.
    assert edge["effect_size"] == pytest.approx(TRUE_EFFECT, abs=0.5)
    assert [lag["lag"] for lag in effects["by_lag"]] == [0, 1, 2]
    granger = edge["granger"]
    assert granger is not None and [t["lag"] for t in granger["lags"]] == [1, 2]
    assert "not proof of cause" in granger["note"]

    direct = await client.post(
        "/api/v1/evidence/granger",
        json={"cause": "ad_spend", "effect": "revenue", "max_lag": 3},
        headers=tenant.headers,
    )
    assert direct.status_code == 200, direct.text
    assert [t["lag"] for t in direct.json()["lags"]] == [1, 2, 3]
    assert direct.json()["table"]["rows"] == DAYS


async def test_user_graph_sets_the_adjustment_and_names_unobserved_nodes(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    graph = [
        {"cause": "promo", "effect": "ad_spend"},
        {"cause": "promo", "effect": "revenue"},
        {"cause": "ad_spend", "effect": "revenue"},
        {"cause": "season", "effect": "revenue"},
    ]

    response = await _analyze(client, tenant, confounders=[], graph=graph)

    assert response.status_code == 201, response.text
    edge = response.json()
    assert edge["result"]["graph_source"] == "user"
    # Besides the promo, the time-series design adjusts for the calendar (day of week, holidays, trend).
    assert edge["result"]["adjustment_set"] == ["promo", *edge["result"]["design"]["calendar_controls"]]
    assert edge["result"]["design"]["kind"] == "time_series"
    assert edge["unobserved_nodes"] == ["season"]
    assert edge["ci_lower"] <= TRUE_EFFECT <= edge["ci_upper"]


def test_costly_analyses_are_sent_to_the_background() -> None:
    spec = service.AnalysisSpec(outcome="revenue", treatment="ad_spend", refutation_simulations=20)
    small = {"revenue": 365, "ad_spend": 365}
    large = {"revenue": service.SYNC_MAX_WORK // 20 + 1, "ad_spend": 10}

    assert service.background_reason(spec, small) is None
    assert Requester(wants_job=True).queue_reason(service.background_reason(spec, small)) == "requested"
    assert service.background_reason(spec, large) is not None
    double_ml = spec.model_copy(update={"method": "double_ml"})
    assert service.background_reason(double_ml, small) is not None


async def test_openapi_documents_the_background_answer(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    analyze = spec["paths"]["/api/v1/evidence/analyze"]["post"]
    assert {"201", "202", "403", "422"} <= set(analyze["responses"])
    assert "async" in spec["components"]["schemas"]["AnalysisCreate"]["properties"]


async def test_drivers_are_labelled_screening_with_estimates_for_the_top_discoveries(
    client: httpx.AsyncClient,
) -> None:
    tenant = await _seeded_tenant(client)

    response = await client.post(
        "/api/v1/evidence/drivers",
        json={"outcome": "revenue", "confounders": ["promo"], "top": 2},
        headers=tenant.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "screening" and body["screening"]["kind"] == "screening"
    assert "not causation" in body["note"] and "not causation" in body["screening"]["note"]
    screened = {c["name"]: c for c in body["screening"]["candidates"]}
    assert set(screened) == {"ad_spend", "noise_a", "noise_b"}  # the catalog minus outcome and confounders
    assert screened["ad_spend"]["discovered"]
    first = body["estimates"][0]
    assert (first["treatment"], first["adjusted_for"]) == ("ad_spend", ["promo"])
    assert first["estimate"]["ci_low"] <= TRUE_EFFECT <= first["estimate"]["ci_high"]


async def test_what_if_scales_the_stored_effect_from_the_window_average(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    edge = (await _analyze(client, tenant)).json()

    response = await client.post(
        "/api/v1/evidence/what-if",
        json={"edge_id": edge["id"], "treatment_change": 10},
        headers=tenant.headers,
    )

    assert response.status_code == 200, response.text
    what_if = response.json()
    assert what_if["edge_id"] == edge["id"]
    assert what_if["predicted_change"] == pytest.approx(10 * edge["effect_size"])
    assert (what_if["ci_low"], what_if["ci_high"]) == pytest.approx(
        (10 * edge["ci_lower"], 10 * edge["ci_upper"])
    )
    assert what_if["baseline_source"] == "window_average"
    assert what_if["baseline_outcome"] == pytest.approx(float(_synthetic()["revenue"].mean()))
    assert what_if["predicted_outcome"] == pytest.approx(
        what_if["baseline_outcome"] + what_if["predicted_change"]
    )
    assert what_if["extrapolation"] is False


async def test_what_if_from_analysis_inputs_stores_the_analysis(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)

    response = await client.post(
        "/api/v1/evidence/what-if",
        json={
            "analysis": {
                "outcome": "revenue",
                "treatment": "ad_spend",
                "confounders": ["promo"],
                "options": FAST,
            },
            "treatment_change": -5,
            "baseline_outcome": 1000,
        },
        headers=tenant.headers,
    )

    assert response.status_code == 200, response.text
    what_if = response.json()
    assert what_if["baseline_source"] == "request"
    assert what_if["ci_low"] <= -5 * TRUE_EFFECT <= what_if["ci_high"]
    assert what_if["predicted_outcome"] == pytest.approx(1000 + what_if["predicted_change"])
    stored = await client.get(f"/api/v1/evidence/edges/{what_if['edge_id']}", headers=tenant.headers)
    assert stored.status_code == 200


async def test_unknown_metrics_are_422_naming_them(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)

    response = await _analyze(client, tenant, confounders=["promo", "weather", "footfall"])

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_metrics"
    assert error["details"]["problems"][0]["unknown"] == ["weather", "footfall"]
    assert "weather" in error["message"]


async def test_constant_treatment_is_422(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    await _ingest(client, tenant, {"flat_spend": [50.0] * DAYS})

    response = await _analyze(client, tenant, treatment="flat_spend")

    assert response.status_code == 422
    error = response.json()["error"]
    assert "never changes" in error["message"]
    assert error["details"]["problems"][0]["treatment"] == "flat_spend"


async def test_too_few_aligned_observations_is_422(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    short = {name: values[:12] for name, values in _synthetic().items()}
    await _ingest(client, tenant, short)

    response = await _analyze(client, tenant)

    assert response.status_code == 422
    error = response.json()["error"]
    assert "Too few aligned observations" in error["message"]
    assert error["details"]["problems"][0]["observations"] == 12


async def test_perfectly_collinear_confounders_are_422(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    await _ingest(client, tenant, {"promo_pct": _synthetic()["promo"] * 100})

    response = await _analyze(client, tenant, confounders=["promo", "promo_pct"])

    assert response.status_code == 422
    error = response.json()["error"]
    assert "collinear" in error["message"]
    assert set(error["details"]["problems"][0]["collinear"]) == {"promo", "promo_pct"}


async def test_viewer_cannot_analyze_but_can_read_the_graph(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    body = {"outcome": "revenue", "treatment": "ad_spend", "confounders": ["promo"], "options": FAST}

    assert (await client.post("/api/v1/evidence/analyze", json=body, headers=viewer)).status_code == 403
    assert (await client.get("/api/v1/evidence/graph", headers=viewer)).status_code == 200


async def test_other_tenant_edges_are_not_found_and_never_in_its_graph(client: httpx.AsyncClient) -> None:
    owner = await _seeded_tenant(client)
    other = await _seeded_tenant(client)
    edge = (await _analyze(client, owner)).json()

    assert (
        await client.get(f"/api/v1/evidence/edges/{edge['id']}", headers=other.headers)
    ).status_code == 404
    what_if = await client.post(
        "/api/v1/evidence/what-if", json={"edge_id": edge["id"], "treatment_change": 1}, headers=other.headers
    )
    assert what_if.status_code == 404
    assert (await client.get("/api/v1/evidence/graph", headers=other.headers)).json() == {
        "nodes": [],
        "edges": [],
    }
    assert (await client.get("/api/v1/evidence/edges", headers=other.headers)).json()["total"] == 0
    own = (await client.get("/api/v1/evidence/graph", headers=owner.headers)).json()
    assert [e["id"] for e in own["edges"]] == [edge["id"]]


@pytest.fixture
def database(app: FastAPI) -> Database:
    db: Database = app.state.database
    return db


async def test_an_edge_listed_then_read_in_one_session_carries_its_result(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await _seeded_tenant(client)
    edge = (await _analyze(client, tenant)).json()

    async with database.tenant_session(tenant.tenant_id) as session:
        listed, _ = await service.list_edges(
            session, PageWindow(5), cause=None, effect="revenue", verdict=None
        )
        read = await service.get_edge(session, listed[0].id)
        assert service.edge_result(read).estimate.value == edge["effect_size"]


async def test_async_analysis_runs_as_a_job_that_stores_the_edge(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls, database: Database
) -> None:
    tenant = await _seeded_tenant(client)

    queued = await _analyze(client, tenant, **{"async": True})

    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    assert queued.headers["location"] == f"/api/v1/jobs/{job_id}"
    assert (await client.get("/api/v1/evidence/graph", headers=tenant.headers)).json()["edges"] == []
    await run_fast_retry_jobs(settings, database_urls, "evidence")

    job = (await client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)).json()
    assert job["status"] == "succeeded", job
    edge_id = job["result"]["edge_id"]
    edge = (await client.get(f"/api/v1/evidence/edges/{edge_id}", headers=tenant.headers)).json()
    assert edge["ci_lower"] <= TRUE_EFFECT <= edge["ci_upper"]
    graph = (await client.get("/api/v1/evidence/graph", headers=tenant.headers)).json()
    assert [e["id"] for e in graph["edges"]] == [edge_id]


async def test_background_analysis_of_bad_data_fails_with_the_validation_error(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls, database: Database
) -> None:
    tenant = await _seeded_tenant(client)
    await _ingest(client, tenant, {"flat_spend": [50.0] * DAYS})

    queued = await _analyze(client, tenant, treatment="flat_spend", **{"async": True})
    assert queued.status_code == 202, queued.text
    await run_fast_retry_jobs(settings, database_urls, "evidence")

    job = (await client.get(f"/api/v1/jobs/{queued.json()['job_id']}", headers=tenant.headers)).json()
    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert job["error"]["code"] == "validation_failed"
    assert job["error"]["details"]["problems"][0]["treatment"] == "flat_spend"


async def test_unknown_edge_is_404(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.get(f"/api/v1/evidence/edges/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404


async def _ingest_frame(client: httpx.AsyncClient, tenant: TenantContext, frame: Any) -> None:
    points = [
        {"metric": name, "ts": (stamp + timedelta(hours=12)).tz_localize(UTC).isoformat(), "value": float(v)}
        for name in frame.columns
        for stamp, v in frame[name].items()
    ]
    for chunk in range(0, len(points), 5000):
        response = await client.post(
            "/api/v1/metrics", json={"points": points[chunk : chunk + 5000]}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text


async def test_sustained_what_if_of_a_lagged_effect_uses_the_cumulative_effect(
    client: httpx.AsyncClient,
) -> None:
    """Same-day 0.5 + next-day 1.5 per unit of spend: +100/day sustained gives +200/day."""
    tenant = await create_tenant(client)
    frame = shop_series(kind="seasonal", seed=41, effect=0.5, lag_effect=1.5)
    await _ingest_frame(client, tenant, frame[["lever", "revenue", "promo"]])
    analysis = {
        "outcome": "revenue",
        "treatment": "lever",
        "confounders": ["promo"],
        "lags": [1],
        "holiday_country": "US",
        "options": FAST,
    }
    response = await client.post(
        "/api/v1/evidence/what-if",
        json={"analysis": analysis, "treatment_change": 100},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    what_if = response.json()
    assert what_if["effect_used"] == "cumulative"
    assert what_if["ci_low"] <= 200 <= what_if["ci_high"]

    edge = (await client.get(f"/api/v1/evidence/edges/{what_if['edge_id']}", headers=tenant.headers)).json()
    design = edge["result"]["design"]
    assert design["kind"] == "time_series" and design["holiday_country"] == "US"
    assert "calendar_holiday" in design["calendar_controls"]
    effects = edge["result"]["lag_effects"]
    assert effects["immediate"]["ci_low"] <= 0.5 <= effects["immediate"]["ci_high"]


async def test_a_constant_confounder_is_422_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    tenant = await _seeded_tenant(client)
    await _ingest(client, tenant, {"flat_price": [9.99] * DAYS})

    response = await _analyze(client, tenant, confounders=["promo", "flat_price"])

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["problems"][0]["collinear"] == ["flat_price"]
    assert (await client.get("/api/v1/evidence/edges", headers=tenant.headers)).json()["total"] == 0


async def test_an_unknown_holiday_country_is_422(client: httpx.AsyncClient) -> None:
    tenant = await _seeded_tenant(client)
    response = await _analyze(client, tenant, holiday_country="XX")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unknown_holiday_country"
