"""The optimizer API: templates, runs stored per tenant, what-if, metric-referenced inputs."""

from __future__ import annotations

import copy
import json
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.services.metrics.points import dimensions_key
from backend.services.optimizer import SolveOptions, get_template, run_template
from backend.utils.database import Database
from backend.utils.database_urls import DatabaseUrls
from backend.utils.prometheus import OPTIMIZATION_RUNS
from tests.factories import create_tenant, invite_and_activate
from tests.jobs.support import run_fast_retry_jobs

RUNS = "/api/v1/optimizer/runs"
TEMPLATES = ("budget_allocation", "inventory", "staffing", "product_mix")


def example(template: str) -> dict[str, Any]:
    return copy.deepcopy(get_template(template).example())


def infeasible_product_mix() -> dict[str, Any]:
    """40 committed tables need 1000 kg of oak; the workshop has 900."""
    params = example("product_mix")
    params["products"][0]["min_sales"] = 40
    return params


async def create_run(
    client: httpx.AsyncClient, headers: dict[str, str], template: str, params: dict[str, Any], **options: Any
) -> httpx.Response:
    body: dict[str, Any] = {"template": template, "params": params}
    if options:
        body["options"] = options
    return await client.post(RUNS, headers=headers, json=body)


async def test_templates_list_schema_example_limit_and_the_metric_reference_form(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    response = await client.get("/api/v1/optimizer/templates", headers=tenant.headers)
    assert response.status_code == 200
    templates = {t["name"]: t for t in response.json()["items"]}
    assert set(templates) == set(TEMPLATES)
    for template in templates.values():
        assert template["input_schema"]["type"] == "object" and template["input_schema"]["properties"]
        assert template["example"] == example(template["name"])
        assert template["synchronous_limit"]["limit"] > 0
        assert "metric" in template["metric_reference_schema"]["properties"]

    # The catalog pages like every other list.
    first = (await client.get("/api/v1/optimizer/templates?limit=1&offset=1", headers=tenant.headers)).json()
    assert (first["total"], first["limit"], first["offset"]) == (len(TEMPLATES), 1, 1)
    assert [t["name"] for t in first["items"]] == [t["name"] for t in response.json()["items"]][1:2]


@pytest.mark.parametrize("template", TEMPLATES)
async def test_each_template_is_solved_stored_listed_and_read_back(
    client: httpx.AsyncClient, template: str
) -> None:
    tenant = await create_tenant(client)
    created = await create_run(client, tenant.headers, template, example(template))
    assert created.status_code == 201, created.text
    run = created.json()
    direct = run_template(template, example(template), SolveOptions(solver="highs"))
    assert run["template"] == template and run["solver"] == "highs"
    assert run["status"] == direct.status == "optimal"
    assert run["objective"] == pytest.approx(direct.objective, rel=1e-6)
    assert run["result"]["decisions"] == pytest.approx(direct.decisions, rel=1e-6, abs=1e-6)
    assert run["result"]["explanation"] and run["metric_inputs"] == []
    assert run["timings"]["worker_seconds"] >= run["timings"]["solve_seconds"] > 0

    detail = await client.get(f"{RUNS}/{run['id']}", headers=tenant.headers)
    assert detail.status_code == 200 and detail.json() == run
    listed = await client.get(RUNS, headers=tenant.headers, params={"template": template})
    assert [item["id"] for item in listed.json()["items"]] == [run["id"]]


async def test_cbc_is_selectable_per_run(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    run = (
        await create_run(client, tenant.headers, "product_mix", example("product_mix"), solver="cbc")
    ).json()
    direct = run_template("product_mix", example("product_mix"), SolveOptions(solver="cbc"))
    assert run["solver"] == run["result"]["solver"] == "cbc"
    assert run["objective"] == pytest.approx(direct.objective, rel=1e-6)


async def test_infeasible_run_is_stored_with_the_conflicting_constraints(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    counter = OPTIMIZATION_RUNS.labels(template="product_mix", status="infeasible")
    before = counter._value.get()
    created = await create_run(client, tenant.headers, "product_mix", infeasible_product_mix())
    assert created.status_code == 201, created.text
    run = (await client.get(f"{RUNS}/{created.json()['id']}", headers=tenant.headers)).json()
    assert run["status"] == "infeasible" and run["objective"] is None
    groups = {g["group"] for g in run["result"]["conflict"]["groups"]}
    assert groups == {"min_sales[table]", "capacity[oak]"}
    assert any("conflict" in sentence for sentence in run["result"]["explanation"])
    assert counter._value.get() == before + 1


async def test_list_filters_by_template_and_status_and_pages_newest_first(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    first = (await create_run(client, tenant.headers, "product_mix", example("product_mix"))).json()
    second = (await create_run(client, tenant.headers, "product_mix", infeasible_product_mix())).json()
    third = (
        await create_run(client, tenant.headers, "budget_allocation", example("budget_allocation"))
    ).json()

    everything = (await client.get(RUNS, headers=tenant.headers)).json()
    assert [i["id"] for i in everything["items"]] == [third["id"], second["id"], first["id"]]
    infeasible = (await client.get(RUNS, headers=tenant.headers, params={"status": "infeasible"})).json()
    assert [i["id"] for i in infeasible["items"]] == [second["id"]]
    mix_page = (
        await client.get(
            RUNS, headers=tenant.headers, params={"template": "product_mix", "limit": 1, "offset": 1}
        )
    ).json()
    assert mix_page["total"] == 2 and [i["id"] for i in mix_page["items"]] == [first["id"]]
    bad_status = await client.get(RUNS, headers=tenant.headers, params={"status": "great"})
    assert bad_status.status_code == 422


async def test_what_if_compares_the_scenario_with_the_stored_run(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    run = (await create_run(client, tenant.headers, "budget_allocation", example("budget_allocation"))).json()
    change = {"path": "/total_budget", "op": "scale", "value": 0.5, "label": "half the budget"}
    response = await client.post(
        f"{RUNS}/{run['id']}/what-if", headers=tenant.headers, json={"changes": [change]}
    )
    assert response.status_code == 200, response.text
    what_if = response.json()

    assert what_if["baseline_run_id"] == run["id"]
    assert what_if["baseline"] == run["result"]
    assert what_if["scenario_params"]["total_budget"] == run["params"]["total_budget"] * 0.5
    scenario = run_template("budget_allocation", what_if["scenario_params"], SolveOptions(solver="highs"))
    assert what_if["scenario"]["objective"] == pytest.approx(scenario.objective, rel=1e-6)
    assert what_if["objective_delta"] == pytest.approx(scenario.objective - run["objective"], rel=1e-6)
    assert what_if["objective_delta"] < 0  # half the budget cannot earn more
    spend = {d["name"]: d for d in what_if["decision_diffs"]}
    assert sum(d["scenario"] for d in spend.values() if d["name"].startswith("spend.")) < sum(
        d["baseline"] for d in spend.values() if d["name"].startswith("spend.")
    )
    assert what_if["explanation"][0] == "Scenario: half the budget."
    # The scenario is not stored: the tenant still has one run.
    assert (await client.get(RUNS, headers=tenant.headers)).json()["total"] == 1


async def test_what_if_uses_the_baseline_solver_unless_told_otherwise(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    run = (await create_run(client, tenant.headers, "inventory", example("inventory"), solver="cbc")).json()
    change = {"path": "/products/*/unit_cost", "op": "scale", "value": 1.2, "where": {"supplier": "B"}}
    same = (
        await client.post(f"{RUNS}/{run['id']}/what-if", headers=tenant.headers, json={"changes": [change]})
    ).json()
    assert same["scenario"]["solver"] == "cbc"
    assert {d["name"] for d in same["decision_diffs"]} >= {"order_qty.MUG"}
    other = await client.post(
        f"{RUNS}/{run['id']}/what-if",
        headers=tenant.headers,
        json={"changes": [change], "options": {"solver": "highs"}},
    )
    assert other.json()["scenario"]["solver"] == "highs"


async def test_what_if_with_a_bad_change_is_422_naming_it(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    run = (await create_run(client, tenant.headers, "budget_allocation", example("budget_allocation"))).json()
    url = f"{RUNS}/{run['id']}/what-if"
    missing = await client.post(
        url, headers=tenant.headers, json={"changes": [{"path": "/nope/x", "op": "add", "value": 1}]}
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["details"]["problems"][0]["path"] == "/nope/x"
    invalid = await client.post(
        url, headers=tenant.headers, json={"changes": [{"path": "/total_budget", "op": "set", "value": -5}]}
    )
    assert invalid.status_code == 422
    assert [e["path"] for e in invalid.json()["error"]["details"]["problems"]] == ["/total_budget"]
    empty = await client.post(url, headers=tenant.headers, json={"changes": []})
    assert empty.status_code == 422


async def test_invalid_params_are_422_listing_each_path(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    params = example("budget_allocation")
    params["total_budget"] = -1
    del params["channels"][1]["name"]
    params["channels"][2]["response_curve"][1]["spend"] = -3
    response = await create_run(client, tenant.headers, "budget_allocation", params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    paths = {e["path"] for e in error["details"]["problems"]}
    assert paths == {"/total_budget", "/channels/1/name", "/channels/2/response_curve/1/spend"}

    unknown = await create_run(client, tenant.headers, "warehouse_robots", {})
    assert unknown.status_code == 422
    assert set(unknown.json()["error"]["details"]["problems"][0]["available"]) == set(TEMPLATES)
    assert (await client.get(RUNS, headers=tenant.headers)).json()["total"] == 0


async def test_a_problem_beyond_the_synchronous_limit_is_solved_by_a_worker(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls, database: Database
) -> None:
    tenant = await create_tenant(client)
    params = example("staffing")
    template = params["employees"][0]
    # 101 employees x 7 days x 3 shifts = 2121 assignments, past the limit of 2100.
    params["employees"] = [{**template, "name": f"e{i}", "min_hours": 0} for i in range(101)]
    queued = await create_run(client, tenant.headers, "staffing", params)
    assert queued.status_code == 202, queued.text
    assert "2121 employee x day x shift assignments" in queued.json()["reason"]
    assert (await client.get(RUNS, headers=tenant.headers)).json()["total"] == 0

    await run_fast_retry_jobs(settings, database_urls, "optimizer")

    job = (await client.get(queued.headers["location"], headers=tenant.headers)).json()
    assert job["status"] == "succeeded", job
    stored = (await client.get(job["result"]["run_url"], headers=tenant.headers)).json()
    assert stored["status"] == job["result"]["status"] == "optimal"
    assert len(stored["params"]["employees"]) == 101


async def test_background_runs_store_the_same_plan_as_a_synchronous_solve(
    client: httpx.AsyncClient, settings: Settings, database_urls: DatabaseUrls, database: Database
) -> None:
    tenant = await create_tenant(client)
    params = example("product_mix")
    direct = await create_run(client, tenant.headers, "product_mix", params)
    queued = await client.post(
        RUNS, headers=tenant.headers, json={"template": "product_mix", "params": params, "async": True}
    )
    assert (direct.status_code, queued.status_code) == (201, 202)
    await run_fast_retry_jobs(settings, database_urls, "optimizer")
    job = (await client.get(f"/api/v1/jobs/{queued.json()['job_id']}", headers=tenant.headers)).json()
    stored = (await client.get(job["result"]["run_url"], headers=tenant.headers)).json()
    assert stored["result"]["objective"] == pytest.approx(direct.json()["result"]["objective"])


async def test_a_what_if_beyond_the_synchronous_limit_is_refused_with_the_limit(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    params = example("staffing")
    run = (await create_run(client, tenant.headers, "staffing", params)).json()
    employee = params["employees"][0]
    grown = [{**employee, "name": f"x{i}", "min_hours": 0} for i in range(110)]
    response = await client.post(
        f"{RUNS}/{run['id']}/what-if",
        headers=tenant.headers,
        json={"changes": [{"path": "/employees", "op": "set", "value": grown}]},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "too_large_for_synchronous_solve"
    assert error["details"]["problems"][0]["limit"] == 2100


async def seed_points(
    engine: AsyncEngine, tenant_id: uuid.UUID, metric: str, points: list[tuple[float, float, dict[str, str]]]
) -> None:
    """Insert (days ago, value, dimensions) observations as the app role, inside the tenant."""
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        for days_ago, value, dimensions in points:
            await connection.execute(
                text(
                    "insert into business_metrics (tenant_id, metric, dimensions_key, ts, value, dimensions) "
                    "values (:tenant, :metric, :key, :ts, :value, cast(:dimensions as jsonb))"
                ),
                {
                    "tenant": tenant_id,
                    "metric": metric,
                    "key": dimensions_key(dimensions),
                    "ts": now - timedelta(days=days_ago),
                    "value": value,
                    "dimensions": json.dumps(dimensions),
                },
            )


async def test_metric_references_are_resolved_from_the_tenants_own_recent_metrics(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    other = await create_tenant(client)
    mug = {"sku": "MUG"}
    await seed_points(
        app_engine,
        tenant.tenant_id,
        "units_sold",
        [(1, 10.0, mug), (2, 14.0, mug), (3, 9.0, mug), (40, 500.0, mug), (1, 700.0, {"sku": "TEA-250G"})],
    )
    await seed_points(app_engine, other.tenant_id, "units_sold", [(1, 1000.0, mug)])
    window = {"metric": "units_sold", "last": "30 days", "dimensions": mug}
    params = example("inventory")
    mug_product = next(p for p in params["products"] if p["sku"] == "MUG")
    mug_product["demand_mean"] = {**window, "agg": "avg", "scale": 7}
    mug_product["demand_std"] = {**window, "agg": "stddev"}

    response = await create_run(client, tenant.headers, "inventory", params)
    assert response.status_code == 201, response.text
    run = response.json()
    solved_mug = next(p for p in run["params"]["products"] if p["sku"] == "MUG")
    assert solved_mug["demand_mean"] == pytest.approx(7 * statistics.mean([10, 14, 9]))
    assert solved_mug["demand_std"] == pytest.approx(statistics.stdev([10, 14, 9]))
    inputs = {i["path"]: i for i in run["metric_inputs"]}
    assert set(inputs) == {"/products/2/demand_mean", "/products/2/demand_std"}
    assert inputs["/products/2/demand_mean"]["points"] == 3
    # The solve used the resolved numbers: the same plan as solving them directly.
    direct = run_template("inventory", run["params"], SolveOptions(solver="highs"))
    assert run["objective"] == pytest.approx(direct.objective, rel=1e-6)


async def test_metric_reference_without_observations_or_malformed_is_422(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    await seed_points(app_engine, tenant.tenant_id, "ad_budget", [(200, 9000.0, {})])
    params = example("budget_allocation")
    params["total_budget"] = {"metric": "ad_budget", "agg": "latest", "last": "90 days"}
    params["gross_margin"] = {"metric": "margin", "agg": "median"}
    response = await create_run(client, tenant.headers, "budget_allocation", params)
    assert response.status_code == 422
    errors = {e["path"]: e["message"] for e in response.json()["error"]["details"]["problems"]}
    assert set(errors) == {"/total_budget", "/gross_margin/agg"}
    assert "no observations" in errors["/total_budget"]

    params["total_budget"] = {"metric": "ad_budget", "agg": "latest", "last": "1 year"}
    del params["gross_margin"]
    assert (await create_run(client, tenant.headers, "budget_allocation", params)).status_code == 422
    params["total_budget"] = {"metric": "ad_budget", "agg": "latest", "last": "30 weeks"}
    resolved = await create_run(client, tenant.headers, "budget_allocation", params)
    assert resolved.status_code == 201 and resolved.json()["params"]["total_budget"] == 9000.0


async def test_viewer_can_read_runs_but_cannot_create_or_what_if(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    _, analyst = await invite_and_activate(client, tenant, role="analyst")
    run = (await create_run(client, analyst, "product_mix", example("product_mix"))).json()
    assert run["status"] == "optimal"

    denied = await create_run(client, viewer, "product_mix", example("product_mix"))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    change = {"path": "/resources/oak/capacity", "op": "add", "value": 100}
    what_if = await client.post(f"{RUNS}/{run['id']}/what-if", headers=viewer, json={"changes": [change]})
    assert what_if.status_code == 403
    assert (await client.get(f"{RUNS}/{run['id']}", headers=viewer)).status_code == 200
    assert (await client.get(RUNS, headers=viewer)).json()["total"] == 1


async def test_another_tenants_run_and_what_if_are_not_found(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    b_run = (await create_run(client, b.headers, "product_mix", example("product_mix"))).json()
    change = {"path": "/resources/oak/capacity", "op": "add", "value": 100}

    read = await client.get(f"{RUNS}/{b_run['id']}", headers=a.headers)
    what_if = await client.post(
        f"{RUNS}/{b_run['id']}/what-if", headers=a.headers, json={"changes": [change]}
    )
    assert (read.status_code, what_if.status_code) == (404, 404)
    assert read.json()["error"]["code"] == what_if.json()["error"]["code"] == "not_found"
    assert (await client.get(RUNS, headers=a.headers)).json()["total"] == 0
    assert (await client.get(f"{RUNS}/{uuid.uuid4()}", headers=a.headers)).status_code == 404
    # B still sees and can use its run.
    mine = await client.post(f"{RUNS}/{b_run['id']}/what-if", headers=b.headers, json={"changes": [change]})
    assert mine.status_code == 200 and mine.json()["baseline_run_id"] == b_run["id"]
