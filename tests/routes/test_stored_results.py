"""Stored results are read through typed models, and rows stored in an older shape still read.

Each test makes a result through the API, rewrites its JSON column as owner to the shape rows
had before a field existed, and reads it back through the API.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import TenantContext, create_tenant
from tests.routes.test_evidence import _analyze
from tests.routes.test_evidence import _seeded_tenant as _evidence_tenant
from tests.routes.test_forecaster import FORECASTS, forecast_six_months_ago
from tests.routes.test_optimizer import RUNS, create_run, example


async def _read_after_rewrite(
    client: httpx.AsyncClient,
    owner_engine: AsyncEngine,
    tenant: TenantContext,
    collection: str,
    row_id: str,
    statement: str,
) -> dict[str, Any]:
    """Run ``statement`` on the row ``row_id`` as owner, then read ``collection/row_id`` through the API."""
    async with owner_engine.begin() as connection:
        # Transaction-local, like the application's own sessions: row-level security applies to the owner too.
        await connection.execute(
            text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        result = await connection.execute(text(statement), {"id": uuid.UUID(row_id)})
        assert result.rowcount == 1
    read = await client.get(f"{collection}/{row_id}", headers=tenant.headers)
    assert read.status_code == 200, read.text
    body: dict[str, Any] = read.json()
    return body


async def test_a_forecast_stored_before_interval_choice_and_time_zones_reads_and_evaluates(
    client: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    tenant, made = await forecast_six_months_ago(client)
    forecast_id = made.json()["id"]
    body = await _read_after_rewrite(
        client,
        owner_engine,
        tenant,
        FORECASTS,
        forecast_id,
        "update forecasts set result = result - 'interval_method' - 'backtest_coverage' - 'mase_scale', "
        "inputs = inputs - 'timezone' - 'levels' - 'dimensions', scores = '{}'::jsonb where id = :id",
    )
    assert body["interval_method"] is None and body["backtest_coverage"] == {}
    assert body["points"] == made.json()["points"]
    assert body["inputs"]["timezone"] == "UTC" and body["inputs"]["dimensions"] == {}
    assert body["scores"] == {
        "mase": None,
        "smape": None,
        "improvement_over_seasonal_naive": None,
        "evaluation": None,
    }
    scored = await client.post(f"{FORECASTS}/{forecast_id}/evaluate", headers=tenant.headers)
    assert scored.status_code == 200, scored.text
    # Without the stored MASE scale there is no MASE, but the rest of the score is there.
    assert scored.json()["matched"] == 6 and scored.json()["mase"] is None
    listed = await client.get(FORECASTS, headers=tenant.headers)
    assert listed.json()["items"][0]["scores"]["evaluation"]["matched"] == 6


async def test_a_run_stored_before_metric_inputs_and_service_timings_reads_and_compares(
    client: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    tenant = await create_tenant(client)
    created = await create_run(client, tenant.headers, "product_mix", example("product_mix"))
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    body = await _read_after_rewrite(
        client,
        owner_engine,
        tenant,
        RUNS,
        run_id,
        "update optimization_runs set solution = solution - 'metric_inputs', "
        "timings = timings - 'resolve_inputs_seconds' - 'worker_seconds' - 'service_seconds' "
        "where id = :id",
    )
    assert body["metric_inputs"] == [] and body["result"] == created.json()["result"]
    assert body["timings"]["worker_seconds"] == 0.0
    assert body["timings"]["solve_seconds"] == created.json()["timings"]["solve_seconds"]
    what_if = await client.post(
        f"{RUNS}/{run_id}/what-if",
        headers=tenant.headers,
        json={"changes": [{"path": "/products/0/price", "op": "scale", "value": 1.1}]},
    )
    assert what_if.status_code == 200, what_if.text


async def test_an_edge_stored_before_granger_baselines_and_zones_reads_and_predicts(
    client: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    tenant = await _evidence_tenant(client)
    edge = (await _analyze(client, tenant)).json()
    body = await _read_after_rewrite(
        client,
        owner_engine,
        tenant,
        "/api/v1/evidence/edges",
        edge["id"],
        "update evidence_graph set details = details - 'granger' - 'granger_unavailable' - 'baseline' "
        "- 'unobserved_nodes' - 'timezone' - 'inputs' where id = :id",
    )
    assert body["result"] == edge["result"] and body["table"] == edge["table"]
    assert body["granger"] is None and body["unobserved_nodes"] == [] and body["inputs"] == {}
    assert body["baseline"] == {"outcome_mean": None, "treatment_mean": None}
    predicted = await client.post(
        "/api/v1/evidence/what-if",
        json={"edge_id": edge["id"], "treatment_change": 10, "baseline_outcome": 1000},
        headers=tenant.headers,
    )
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["baseline_source"] == "request"
