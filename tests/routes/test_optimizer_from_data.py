"""POST /api/v1/optimizer/{template}/from-data: inputs from the shop's data, or a 422 naming the metric."""

from __future__ import annotations

import httpx

from tests.factories import create_tenant, problem_context
from tests.services.optimizer.shop_data import (
    STAFF_BY_SHIFT,
    STAFF_BY_WEEKDAY,
    seed_staffing,
    seed_staffing_by_hour,
)

URL = "/api/v1/optimizer/{}/from-data"


async def test_a_staffing_run_from_data_covers_the_planted_weekday_need(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await seed_staffing(client, tenant)
    response = await client.post(URL.format("staffing"), json={}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    staff = [r["staff"] for r in body["run"]["params"]["requirements"]]
    assert staff == list(STAFF_BY_WEEKDAY) and body["run"]["status"] == "optimal"
    labels = [s["label"] for s in body["inputs"]["sources"]]
    assert "orders served per staff hour" in labels
    stored = await client.get(f"/api/v1/optimizer/runs/{body['run']['id']}", headers=tenant.headers)
    assert stored.status_code == 200


async def test_orders_by_the_hour_plan_shifts_for_each_weekdays_busiest_hours(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    await seed_staffing_by_hour(client, tenant)
    response = await client.post(URL.format("staffing"), json={"shift_hours": 8}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    run = response.json()["run"]
    assert [s["name"] for s in run["params"]["shifts"]] == ["09-17", "17-21"]
    by_day = {}
    for r in run["params"]["requirements"]:
        by_day.setdefault(r["day"], []).append(r["staff"])
    weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert [tuple(by_day[d]) for d in weekdays] == list(STAFF_BY_SHIFT)
    assert run["status"] == "optimal"
    # Everyone on a shift works all of it: the schedule covers each requirement.
    on = [
        name.split(".")[2:]
        for name, v in run["result"]["decisions"].items()
        if name.startswith("shift.") and v > 0.5
    ]
    for r in run["params"]["requirements"]:
        assert on.count([r["day"], r["shift"]]) >= r["staff"]


async def test_missing_data_is_a_422_naming_the_metric_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    for template, metric in (
        ("staffing", "orders"),
        ("product_mix", "units_sold"),
        ("budget_allocation", "/api/v1/evidence/mmm"),
        ("inventory", "units_sold"),
    ):
        response = await client.post(URL.format(template), json={}, headers=tenant.headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert any(metric in need for need in problem_context(error)["needs"]), (template, error)
    runs = await client.get("/api/v1/optimizer/runs", headers=tenant.headers)
    assert runs.json()["total"] == 0


async def test_bad_knobs_and_unknown_templates_are_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    unknown = await client.post(URL.format("payroll"), json={}, headers=tenant.headers)
    assert unknown.status_code == 422
    bad = await client.post(URL.format("staffing"), json={"shift_hours": 30}, headers=tenant.headers)
    assert bad.status_code == 422 and "error" in bad.json()


async def test_openapi_documents_the_from_data_answers(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/optimizer/{template}/from-data"]["post"]
    assert {"201", "202", "403", "422"} <= set(operation["responses"])
    assert "details.needs" in operation["description"]
