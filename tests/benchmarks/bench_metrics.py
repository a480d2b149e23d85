"""Metrics benchmark: the API against raw asyncpg on the same database, in one run.

    python -m tests.benchmarks.bench_metrics [--tenants 20] [--clients 4] [--workers 2]

Against ``make serve``'s command (two API processes by default, as it runs), once warm:

1. Ingest: points/s through ``POST /api/v1/metrics`` (batches of 5,000, concurrent
   clients) vs ``COPY`` of the same points into the same table. Aim: at least 0.75x raw COPY.
2. Query: p50/p95 of a daily rollup over two years of hourly data for one metric,
   with ~1M points in the table across the tenants, through the API vs the same SQL
   through asyncpg. Aim: at most 1.1x raw.

Writes ``.bench/metrics.json``. A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from backend.utils.database_urls import DatabaseUrls
from tests.benchmarks.support import (
    copy_points,
    migrated_database,
    percentile,
    signup,
    start_server,
    write_report,
)

BENCH_DATABASE = "dyocense_bench"
BATCH = 5_000
HOURS_2Y = 2 * 365 * 24
# The plain rollup SQL; the API sends its equivalent (backend/services/metrics/reader.py) after
# a few index probes that pick the source its rule reads.
ROLLUP_SQL = (
    "select date_trunc($1, ts, $2) as bucket, null::text as group_value, sum(value) as value, "
    "count(*) as points from business_metrics where tenant_id = $3 and metric = $4 and ts >= $5 "
    "and ts < $6 group by 1, 2 order by 2 nulls first, 1"
)


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def hourly_points(metric: str, start: datetime, count: int, offset: float = 0.0) -> list[dict[str, Any]]:
    return [
        {"metric": metric, "ts": (start + timedelta(hours=i)).isoformat(), "value": float(i % 97) + offset}
        for i in range(count)
    ]


async def bench_ingest(
    base_url: str, urls: DatabaseUrls, superuser_dsn: str, clients: int, total_points: int
) -> dict[str, Any]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        tenant = await signup(http, 0)
        # Bodies are encoded up front: the server's work is measured, not this client's JSON encoding.
        batches = [
            json.dumps({"points": hourly_points("ingest_api", start + timedelta(hours=i), BATCH)}).encode()
            for i in range(0, total_points, BATCH)
        ]
        headers = {"Authorization": f"Bearer {tenant['token']}", "Content-Type": "application/json"}
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)

        async def worker() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                response = await http.post("/api/v1/metrics", headers=headers, content=batch)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        api_seconds = time.perf_counter() - began

    records = [
        (
            uuid.UUID(tenant["tenant_id"]),
            "ingest_copy",
            "",
            start + timedelta(hours=i),
            float(i % 97),
            "{}",
            "bench",
        )
        for i in range(total_points)
    ]
    connection = await asyncpg.connect(superuser_dsn)
    try:
        copy_seconds = await copy_points(connection, records)
    finally:
        await connection.close()
    api_rate, copy_rate = total_points / api_seconds, total_points / copy_seconds
    return {
        "points": total_points,
        "batch_size": BATCH,
        "clients": clients,
        "api_points_per_second": round(api_rate),
        "copy_points_per_second": round(copy_rate),
        "api_to_copy_ratio": round(api_rate / copy_rate, 3),
        "aim": "api_to_copy_ratio >= 0.75",
        "copy_note": "COPY cannot run under row-level security; the baseline ran as superuser without RLS",
    }


async def load_tenants(base_url: str, superuser_dsn: str, tenants: int) -> list[dict[str, str]]:
    """~1M points: per tenant two years of hourly data for three metrics, loaded with COPY."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        created = [await signup(http, i + 1) for i in range(tenants)]
    connection = await asyncpg.connect(superuser_dsn)
    try:
        for tenant in created:
            tenant_id = uuid.UUID(tenant["tenant_id"])
            records = [
                (tenant_id, metric, "", start + timedelta(hours=h), float((h * 7 + m) % 113), "{}", "bench")
                for m, metric in enumerate(("revenue", "orders", "visits"))
                for h in range(HOURS_2Y)
            ]
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "business_metrics",
                    records=records,
                    columns=["tenant_id", "metric", "dimensions_key", "ts", "value", "dimensions", "source"],
                )
                await connection.execute(
                    "insert into metric_definitions (tenant_id, name, aggregation) "
                    "select $1, unnest($2::text[]), 'sum' on conflict do nothing",
                    tenant_id,
                    ["revenue", "orders", "visits"],
                )
        await connection.execute("analyze business_metrics")
    finally:
        await connection.close()
    return created


async def timed_rollup(
    http: httpx.AsyncClient, tenant: dict[str, str], params: dict[str, Any]
) -> tuple[float, httpx.Response]:
    """``GET /api/v1/metrics/revenue`` as ``tenant``: seconds to the full answer, and the answer."""
    began = time.perf_counter()
    response = await http.get(
        "/api/v1/metrics/revenue", params=params, headers={"Authorization": f"Bearer {tenant['token']}"}
    )
    response.raise_for_status()
    return time.perf_counter() - began, response


async def bench_query(
    base_url: str,
    urls: DatabaseUrls,
    tenants: list[dict[str, str]],
    rounds: int,
    window: tuple[datetime, datetime] = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
) -> dict[str, Any]:
    start, end = window
    params = {
        "bucket": "day",
        "agg": "sum",
        "tz": "UTC",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "limit": 1000,
    }
    api_times: list[float] = []
    raw_times: list[float] = []
    connection = await asyncpg.connect(pg_dsn(urls.app))
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            for i in range(rounds):
                tenant = tenants[i % len(tenants)]
                seconds, response = await timed_rollup(http, tenant, params)
                api_times.append(seconds)
                buckets = len(response.json()["series"][0]["points"])

                began = time.perf_counter()
                async with connection.transaction():
                    await connection.execute(
                        "select set_config('app.tenant_id', $1, true)", tenant["tenant_id"]
                    )
                    rows = await connection.fetch(
                        ROLLUP_SQL, "day", "UTC", uuid.UUID(tenant["tenant_id"]), "revenue", start, end
                    )
                raw_times.append(time.perf_counter() - began)
                assert len(rows) == buckets
    finally:
        await connection.close()
    api_p50, raw_p50 = statistics.median(api_times), statistics.median(raw_times)
    api_p95, raw_p95 = percentile(api_times, 0.95), percentile(raw_times, 0.95)
    return {
        "rounds": rounds,
        "buckets": buckets,
        "api_p50_ms": round(api_p50 * 1000, 2),
        "api_p95_ms": round(api_p95 * 1000, 2),
        "raw_p50_ms": round(raw_p50 * 1000, 2),
        "raw_p95_ms": round(raw_p95 * 1000, 2),
        "p50_ratio": round(api_p50 / raw_p50, 3),
        "p95_ratio": round(api_p95 / raw_p95, 3),
        "aim": "p50_ratio <= 1.1",
    }


async def run(args: argparse.Namespace, urls: DatabaseUrls, superuser: str, base_url: str) -> dict[str, Any]:
    ingest = await bench_ingest(base_url, urls, superuser, args.clients, args.ingest_points)
    print(
        f"ingest: API {ingest['api_points_per_second']:,} pts/s vs COPY "
        f"{ingest['copy_points_per_second']:,} pts/s -> ratio {ingest['api_to_copy_ratio']}"
    )
    tenants = await load_tenants(base_url, superuser, args.tenants)
    query = await bench_query(base_url, urls, tenants, args.rounds)
    print(
        f"query: API p50 {query['api_p50_ms']} ms / p95 {query['api_p95_ms']} ms vs raw p50 "
        f"{query['raw_p50_ms']} ms / p95 {query['raw_p95_ms']} ms -> p50 ratio {query['p50_ratio']}"
    )
    return {
        "ingest": ingest,
        "query": {**query, "points_in_table": args.tenants * 3 * HOURS_2Y + 2 * args.ingest_points},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="API processes (make serve: 2)")
    parser.add_argument("--ingest-points", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()

    with migrated_database(BENCH_DATABASE) as (server, urls):
        process, base_url = start_server(urls, args.workers, SIGNUP_RATE_LIMIT_PER_HOUR="1000")
        try:
            results = asyncio.run(run(args, urls, server.superuser_dsn(BENCH_DATABASE), base_url))
        finally:
            process.terminate()
            process.wait(timeout=30)
    report = {
        "benchmark": "metrics",
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count()},
        "api_workers": args.workers,
        **results,
    }
    print(f"wrote {write_report('metrics', report)}")


if __name__ == "__main__":
    main()
