"""Insight engine benchmark: recall and precision on planted events, false alarms on quiet data,
and the cost of a tenant's run.

    python -m tests.benchmarks.bench_insights [--seeds 6] [--runs 3]

1. **Detection** (the pure engine, run once a simulated day from 1 Jan to 30 Jun 2026 after a
   year of history, findings de-duplicated by idempotency key as the database does):
   - *planted* tenants (one per seed), three metrics each: ``revenue`` with three unusual days
     and one store falling by half from a Monday on; ``orders`` growing 1.5% a week that turns
     down, with one unusual day; ``visits`` with one unusual day, which stops arriving in June.
     Recall per expected type: planted events whose insight was found (right day, right store,
     a turn within 4–11 weeks, the silence). Precision per type: findings that a planted event
     explains (the expected insight or a side effect of it, see ``insights_synthetic.Event``).
   - *quiet* tenants: the same three metrics with no event (steady levels, weekly rhythm, 8%
     noise per store). Every finding there is a false alarm; reported per metric per month.
   Aims: recall ≥ 0.9 on planted events, ≤ 1 false alarm per metric per month.
2. **Tenant runs** on a migrated database through ``POST /api/v1/insights/run`` (the API in
   process): a planted tenant (a store falling last week, an unusual day yesterday, a metric
   silent for five days, a goal that will be missed) and a quiet one, 400 days of daily data per
   store. Seconds per run (median of ``--runs``), and which insights the planted one got.

Writes ``.bench/insights.json``. A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from backend.main import create_app
from backend.services.insights import changes, health, trends
from backend.services.insights.types import Finding
from tests.benchmarks.insights_synthetic import Aggregated, Event, SimulatedMetric, daily_runs
from tests.benchmarks.support import app_settings, migrated_database, write_report
from tests.factories import TenantContext, create_goal, create_tenant

ROOT = Path(__file__).resolve().parents[2]
BENCH_DATABASE = "dyocense_bench_insights"
HISTORY_START = date(2025, 1, 6)
EVALUATE_FROM, EVALUATE_TO = date(2026, 1, 1), date(2026, 6, 30)
STORES = {"north": 500.0, "south": 300.0, "east": 200.0}
ORDER_STORES = {"north": 60.0, "south": 40.0, "east": 25.0}
TARGET_RECALL = 0.9
TARGET_FALSE_ALARMS = 1.0


def planted_metrics(seed: int) -> list[SimulatedMetric]:
    """One planted tenant: the events move with the seed so weekdays and weeks differ."""
    shift_week = date(2026, 2, 2) + timedelta(weeks=seed % 4)
    turn = date(2026, 2, 16) + timedelta(weeks=seed % 4)
    return [
        SimulatedMetric(
            "revenue",
            STORES,
            events=[
                Event("anomaly", date(2026, 1, 14) + timedelta(days=3 * seed), 0.5),
                Event("anomaly", date(2026, 3, 25) + timedelta(days=2 * seed), 1.7),
                Event("anomaly", date(2026, 5, 13) + timedelta(days=seed), 0.55),
                Event("shift", shift_week, 0.5, store="east"),
            ],
        ),
        SimulatedMetric(
            "orders",
            ORDER_STORES,
            growth_per_week=0.015,
            events=[Event("turn", turn), Event("anomaly", date(2026, 1, 21) + timedelta(days=seed), 1.6)],
        ),
        SimulatedMetric(
            "visits",
            {"web": 3000.0, "app": 1200.0},
            noise=0.06,
            events=[
                Event("anomaly", date(2026, 2, 25) + timedelta(days=seed), 0.5),
                Event("stop", date(2026, 6, 1) + timedelta(days=seed)),
            ],
        ),
    ]


def quiet_metrics() -> list[SimulatedMetric]:
    return [
        SimulatedMetric("revenue", STORES),
        SimulatedMetric("orders", ORDER_STORES),
        SimulatedMetric("visits", {"web": 3000.0, "app": 1200.0}, noise=0.06),
    ]


def _evaluation_days() -> list[date]:
    return [EVALUATE_FROM + timedelta(days=n) for n in range((EVALUATE_TO - EVALUATE_FROM).days + 1)]


def _findings(metric: SimulatedMetric, seed: int) -> list[Finding]:
    data = Aggregated.of(metric.values(HISTORY_START, EVALUATE_TO + timedelta(days=1), seed))
    return daily_runs(metric, data, _evaluation_days())


def detection(seeds: int) -> dict[str, Any]:
    planted, detected = Counter[str](), Counter[str]()
    findings, explained = Counter[str](), Counter[str]()
    unexplained: list[str] = []
    for seed in range(seeds):
        for metric in planted_metrics(seed):
            found = _findings(metric, seed)
            for event in metric.events:
                planted[event.expected] += 1
                detected[event.expected] += any(event.detects(finding) for finding in found)
            for finding in found:
                findings[finding.type] += 1
                if any(event.explains(finding) for event in metric.events):
                    explained[finding.type] += 1
                elif len(unexplained) < 20:
                    unexplained.append(finding.sentence)
    quiet = Counter[str]()
    quiet_metric_count = 0
    for seed in range(seeds):
        for metric in quiet_metrics():
            quiet_metric_count += 1
            quiet.update(finding.type for finding in _findings(metric, 1000 + seed))
    months = len(_evaluation_days()) / (365.25 / 12)
    return {
        "planted": {
            "tenants": seeds,
            "events": dict(planted),
            "recall": {kind: round(detected[kind] / planted[kind], 3) for kind in sorted(planted)},
            "findings": dict(findings),
            "precision": {kind: round(explained[kind] / findings[kind], 3) for kind in sorted(findings)},
            "unexplained_examples": unexplained,
        },
        "quiet": {
            "tenants": seeds,
            "metrics": quiet_metric_count,
            "months": round(months, 2),
            "false_alarms": dict(quiet),
            "false_alarms_per_metric_per_month": round(
                sum(quiet.values()) / (quiet_metric_count * months), 3
            ),
            "by_type_per_metric_per_month": {
                kind: round(count / (quiet_metric_count * months), 3) for kind, count in sorted(quiet.items())
            },
        },
    }


# ---------------------------------------------------------------- tenant runs on the database


async def _ingest(
    client: httpx.AsyncClient, tenant: TenantContext, metric: SimulatedMetric, seed: int
) -> None:
    today = datetime.now(UTC).date()
    declared = await client.put(
        f"/api/v1/metrics/{metric.name}", headers=tenant.headers, json={"favourable_direction": "up"}
    )
    assert declared.status_code in (200, 201), declared.text
    values = metric.values(today - timedelta(days=400), today, seed)
    dimension = "store" if "north" in metric.stores else "channel"
    points = [
        {"metric": metric.name, "ts": f"{day}T12:00:00Z", "value": value, "dimensions": {dimension: store}}
        for (day, store), value in sorted(values.items())
    ]
    for start in range(0, len(points), 5_000):
        response = await client.post(
            "/api/v1/metrics", headers=tenant.headers, json={"points": points[start : start + 5_000]}
        )
        assert response.status_code == 200, response.text


def db_planted_metrics() -> list[SimulatedMetric]:
    today = datetime.now(UTC).date()
    last_week = changes.last_complete_week(today)
    return [
        SimulatedMetric("revenue", STORES, events=[Event("shift", last_week, 0.5, store="east")]),
        SimulatedMetric("orders", ORDER_STORES, events=[Event("anomaly", today - timedelta(days=1), 0.45)]),
        SimulatedMetric(
            "visits",
            {"web": 3000.0, "app": 1200.0},
            noise=0.06,
            events=[Event("stop", today - timedelta(days=5))],
        ),
    ]


async def _timed_runs(
    client: httpx.AsyncClient, tenant: TenantContext, runs: int
) -> tuple[list[float], list[Any]]:
    seconds, summaries = [], []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.post("/api/v1/insights/run", headers=tenant.headers, json={})
        seconds.append(round(time.perf_counter() - started, 3))
        assert response.status_code == 200, response.text
        summaries.append(response.json())
    return seconds, summaries


async def tenant_runs(app_url: str, owner_url: str, runs: int) -> dict[str, Any]:
    app = create_app(app_settings(app_url, owner_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as client:
            planted = await create_tenant(client, name="Planted Co")
            for metric in db_planted_metrics():
                await _ingest(client, planted, metric, seed=11)
            # About 30 days x 1,000 a day: a month of revenue; the goal asks for twice that in 75 days.
            baseline = 30 * sum(STORES.values())
            await create_goal(
                client, planted.headers, target_value=2 * baseline, baseline_value=baseline, days=75
            )
            quiet = await create_tenant(client, name="Quiet Co")
            for metric in quiet_metrics():
                await _ingest(client, quiet, metric, seed=12)
            planted_seconds, planted_runs = await _timed_runs(client, planted, runs)
            quiet_seconds, quiet_runs = await _timed_runs(client, quiet, runs)
            feed = await client.get("/api/v1/insights", headers=planted.headers, params={"limit": 100})
            items = feed.json()["items"]
    return {
        "planted": {
            "seconds": planted_seconds,
            "median_seconds": statistics.median(planted_seconds),
            "metrics": planted_runs[0]["metrics"],
            "first_run": planted_runs[0],
            "created_by_later_runs": [run["created"] for run in planted_runs[1:]],
            "found": planted_found(items),
            "insights": [
                {"type": i["type"], "metric": i["metric"], "sentence": i["sentence"]} for i in items
            ],
        },
        "quiet": {
            "seconds": quiet_seconds,
            "median_seconds": statistics.median(quiet_seconds),
            "first_run": quiet_runs[0],
        },
    }


def planted_found(items: list[dict[str, Any]]) -> dict[str, bool]:
    """Each planted event of the database tenant, and whether its insight is in the feed."""
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    last_week = changes.last_complete_week(datetime.now(UTC).date()).isoformat()
    return {
        "unusual_value orders yesterday": any(
            i["type"] == "unusual_value" and i["metric"] == "orders" and i["period_start"] == yesterday
            for i in items
        ),
        "top_contributors revenue store=east last week": any(
            i["type"] == "top_contributors"
            and i["metric"] == "revenue"
            and i["period_start"] == last_week
            and i["numbers"]["contributors"][0]["value"] == "east"
            for i in items
        ),
        "data_health visits stopped": any(
            i["type"] == "data_health" and i["metric"] == "visits" for i in items
        ),
        "goal_at_risk revenue goal": any(i["type"] == "goal_at_risk" for i in items),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=6, help="planted and quiet tenants simulated")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per database tenant")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"detection": detection(args.seeds)}
    with migrated_database(BENCH_DATABASE) as (_, urls):
        report["tenant_runs"] = asyncio.run(tenant_runs(urls.app, urls.owner, args.runs))
    planted, quiet = report["detection"]["planted"], report["detection"]["quiet"]
    report["aims"] = {
        "recall_at_least_0.9": all(value >= TARGET_RECALL for value in planted["recall"].values())
        and all(report["tenant_runs"]["planted"]["found"].values()),
        "false_alarms_at_most_1_per_metric_month": quiet["false_alarms_per_metric_per_month"]
        <= TARGET_FALSE_ALARMS,
    }
    report["rules"] = {
        "period_change_z": changes.CHANGE_Z,
        "unusual_value_z": changes.UNUSUAL_Z,
        "segment_z": changes.SEGMENT_Z,
        "trend_p": trends.TREND_P,
        "trend_weeks": [trends.BEFORE_WEEKS, trends.RECENT_WEEKS],
        "record_min_history_weeks": trends.MIN_RECORD_HISTORY,
        "silence_factor": health.SILENCE_FACTOR,
    }
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    out = write_report("insights", report, default=str)
    print(json.dumps({k: report[k] for k in ("aims", "bench_seconds")}, indent=2))
    print("recall", planted["recall"], "precision", planted["precision"])
    print(
        "quiet false alarms per metric per month",
        quiet["false_alarms_per_metric_per_month"],
        quiet["false_alarms"],
    )
    runs = report["tenant_runs"]
    print("tenant run seconds", runs["planted"]["median_seconds"], runs["quiet"]["median_seconds"])
    print("database tenant found", runs["planted"]["found"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
