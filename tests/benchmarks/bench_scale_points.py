"""Cost as the work grows: one database grown step by step to each size of stored points, in one run.

    python -m tests.benchmarks.bench_scale_points [--sizes 1000000,10000000] [--small-tenants 200]

The points spread over many small tenants (``--small-tenants``, two years of data every 8 hours
per metric, more metrics as the table grows) and ONE large tenant holding about half of them
(two years of hourly data for four metrics per store, more stores as the table grows, so its
``revenue`` rollup reads more rows at every size). At each size the difference is loaded with
``COPY`` as the superuser, then ``ANALYZE``, then (API on loopback, ``python -m backend.server``):

- rollup p50/p95 of ``GET /api/v1/metrics/revenue?bucket=day&agg=sum`` over a year, API vs the
  same SQL through asyncpg, for the small tenants and for the large one;
- ingest points/s through ``POST /api/v1/metrics`` (batches of 5,000, concurrent clients) vs
  ``COPY`` of the same points (``bench_metrics.bench_ingest``);
- noisy neighbour: a small tenant's rollup p50 while the large tenant ingests (several clients)
  and runs its own rollups, vs its p50 alone (aim: at most 1.5x);
- ``pg_total_relation_size('business_metrics')`` (table, indexes).

Writes ``.bench/scale_points.json``. A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import numpy as np

from backend.utils.database_urls import DatabaseUrls
from tests.benchmarks.bench_metrics import (
    BATCH,
    HOURS_2Y,
    bench_ingest,
    bench_query,
    hourly_points,
    timed_rollup,
)
from tests.benchmarks.support import ROOT, migrated_database, percentile, signup, start_server

BENCH_DATABASE = "dyocense_bench_scale"
REPORT = ROOT / ".bench" / "scale_points.json"
COLUMNS = ["tenant_id", "metric", "dimensions_key", "ts", "value", "dimensions", "source"]
SMALL_SPACING_HOURS = 8
SMALL_SERIES_POINTS = HOURS_2Y // SMALL_SPACING_HOURS
LARGE_METRICS = ("revenue", "orders", "visits", "units")
# Rows per COPY statement (each one its own transaction).
COPY_ROWS = 1_000_000
YEAR = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
ROLLUP_PARAMS = {
    "bucket": "day",
    "agg": "sum",
    "tz": "UTC",
    "start": YEAR[0].isoformat(),
    "end": YEAR[1].isoformat(),
    "limit": 1000,
}


@dataclass(frozen=True)
class Series:
    """One metric series of one tenant: ``points`` timestamps every ``spacing_hours`` from 2024."""

    tenant_id: str
    metric: str
    dimensions: str
    spacing_hours: int
    points: int


@dataclass(frozen=True)
class Layout:
    """How much is stored: metrics per small tenant, stores of the large tenant."""

    small_metrics: int = 0
    large_stores: int = 0

    def points(self, small_tenants: int) -> int:
        small = self.small_metrics * small_tenants * SMALL_SERIES_POINTS
        return small + self.large_stores * len(LARGE_METRICS) * HOURS_2Y


@dataclass(frozen=True)
class Tenants:
    small: list[dict[str, str]]
    large: dict[str, str]


def layout_for(size: int, small_tenants: int) -> Layout:
    """About half of ``size`` in the small tenants, the rest in the large one."""
    small_metrics = max(1, round(size / 2 / (small_tenants * SMALL_SERIES_POINTS)))
    rest = size - small_metrics * small_tenants * SMALL_SERIES_POINTS
    return Layout(small_metrics, max(1, round(rest / (len(LARGE_METRICS) * HOURS_2Y))))


def new_series(have: Layout, want: Layout, tenants: Tenants) -> Iterator[Series]:
    for m in range(have.small_metrics, want.small_metrics):
        metric = "revenue" if m == 0 else f"metric_{m}"
        for tenant in tenants.small:
            yield Series(tenant["tenant_id"], metric, "", SMALL_SPACING_HOURS, SMALL_SERIES_POINTS)
    for store in range(have.large_stores, want.large_stores):
        dimensions = json.dumps({"store": f"s{store}"}, separators=(",", ":"))
        for metric in LARGE_METRICS:
            yield Series(tenants.large["tenant_id"], metric, dimensions, 1, HOURS_2Y)


def copy_text(series: Series) -> bytes:
    """The series as COPY text rows (numpy makes the timestamps; no per-row datetime objects)."""
    steps = np.arange(series.points)
    stamps = np.datetime64("2024-01-01T00:00:00") + steps * np.timedelta64(series.spacing_hours, "h")
    values = ((steps * 7 + len(series.metric)) % 113).tolist()
    prefix = f"{series.tenant_id}\t{series.metric}\t{series.dimensions}\t"
    suffix = f"\t{series.dimensions or '{}'}\tbench\n"
    text = "".join(
        f"{prefix}{ts}+00\t{value}{suffix}"
        for ts, value in zip(np.datetime_as_string(stamps, unit="s").tolist(), values, strict=True)
    )
    return text.encode()


def _copy_batches(series: Sequence[Series]) -> Iterator[list[Series]]:
    batch: list[Series] = []
    rows = 0
    for one in series:
        batch.append(one)
        rows += one.points
        if rows >= COPY_ROWS:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


async def _copy_stream(superuser_dsn: str, series: Sequence[Series]) -> None:
    connection = await asyncpg.connect(superuser_dsn)
    try:
        for batch in _copy_batches(series):

            async def source(batch: list[Series] = batch) -> AsyncIterator[bytes]:
                for one in batch:
                    yield copy_text(one)

            await connection.copy_to_table(
                "business_metrics", source=source(), columns=COLUMNS, format="text"
            )
    finally:
        await connection.close()


async def grow(superuser_dsn: str, series: list[Series], streams: int) -> dict[str, Any]:
    """COPY ``series`` over ``streams`` connections, then ANALYZE: rows, seconds, rows/s."""
    began = time.perf_counter()
    await asyncio.gather(*(_copy_stream(superuser_dsn, series[i::streams]) for i in range(streams)))
    copy_seconds = time.perf_counter() - began
    connection = await asyncpg.connect(superuser_dsn)
    try:
        # The API reads only declared metrics; the loader declares what it wrote, as an upload would.
        declared = sorted({(one.tenant_id, one.metric) for one in series})
        await connection.execute(
            "insert into metric_definitions (tenant_id, name, aggregation) "
            "select unnest($1::uuid[]), unnest($2::text[]), 'sum' on conflict do nothing",
            [uuid.UUID(tenant) for tenant, _ in declared],
            [metric for _, metric in declared],
        )
        began = time.perf_counter()
        await connection.execute("analyze business_metrics")
        analyze_seconds = time.perf_counter() - began
    finally:
        await connection.close()
    rows = sum(one.points for one in series)
    return {
        "rows": rows,
        "copy_seconds": round(copy_seconds, 1),
        "rows_per_second": round(rows / copy_seconds) if rows else None,
        "analyze_seconds": round(analyze_seconds, 1),
    }


async def table_size(superuser_dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(superuser_dsn)
    try:
        row = await connection.fetchrow(
            "select pg_total_relation_size('business_metrics') as total, "
            "pg_relation_size('business_metrics') as heap, pg_indexes_size('business_metrics') as indexes"
        )
    finally:
        await connection.close()
    assert row is not None
    return {"total_bytes": row["total"], "heap_bytes": row["heap"], "index_bytes": row["indexes"]}


async def _rollup(http: httpx.AsyncClient, tenant: dict[str, str]) -> float:
    seconds, _ = await timed_rollup(http, tenant, ROLLUP_PARAMS)
    return seconds


async def _small_p50(http: httpx.AsyncClient, tenant: dict[str, str], rounds: int) -> float:
    return statistics.median([await _rollup(http, tenant) for _ in range(rounds)])


@dataclass
class Noise:
    """What the large tenant did while the small one was measured."""

    points: int = 0
    rollups: int = 0
    batches_left: int = 0
    seconds: float = 0.0  # from its start (a second before the first timed rollup) to the last


# The large tenant's bodies are encoded before the measurement starts: 200 batches of 5,000 new
# points, more than its ingest gets through while the small tenant's rollups are timed.
NOISE_BATCHES = 200
NEIGHBOUR_SECONDS = 10.0


async def _noise_ingest(
    http: httpx.AsyncClient, token: str, bodies: list[bytes], noise: Noise, stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while bodies and not stop.is_set():
        response = await http.post("/api/v1/metrics", headers=headers, content=bodies.pop())
        response.raise_for_status()
        noise.points += BATCH


async def _noise_rollups(
    http: httpx.AsyncClient, large: dict[str, str], noise: Noise, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        await _rollup(http, large)
        noise.rollups += 1


async def _noise(base_url: str, large: dict[str, str], metric: str, clients: int, control: Any) -> Noise:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    bodies = [
        json.dumps({"points": hourly_points(metric, start + timedelta(hours=i * BATCH), BATCH)}).encode()
        for i in range(NOISE_BATCHES)
    ]
    noise, stop = Noise(), asyncio.Event()
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as http:
        load = [_noise_ingest(http, large["token"], bodies, noise, stop) for _ in range(clients)]
        tasks = [asyncio.create_task(job) for job in (*load, _noise_rollups(http, large, noise, stop))]
        began = time.perf_counter()
        control["ready"].set()
        await asyncio.to_thread(control["stop"].wait)
        counted = Noise(noise.points, noise.rollups, len(bodies), round(time.perf_counter() - began, 2))
        stop.set()
        await asyncio.gather(*tasks)
    return counted


def _noise_process(
    base_url: str, large: dict[str, str], metric: str, clients: int, control: Any, results: Any
) -> None:
    results.put(asdict(asyncio.run(_noise(base_url, large, metric, clients, control))))


async def bench_neighbour(
    base_url: str, tenants: Tenants, size: int, clients: int, rounds: int
) -> dict[str, Any]:
    """A small tenant's rollup p50 alone, then while the large tenant ingests and queries.

    The large tenant's load runs in a process of its own, as another shop's traffic would: on this
    process's event loop, encoding its bodies and reading its answers delayed the timed responses,
    and that delay was counted as the server's (15-19x at first)."""
    small = tenants.small[0]
    context = multiprocessing.get_context("spawn")
    control = {"ready": context.Event(), "stop": context.Event()}
    results = context.Queue()
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as http:
        alone = await _small_p50(http, small, rounds)
        noise_process = context.Process(
            target=_noise_process,
            args=(base_url, tenants.large, f"noise_{size}", clients, control, results),
        )
        noise_process.start()
        await asyncio.to_thread(control["ready"].wait)
        await asyncio.sleep(1.0)  # let the load reach its pace first
        began = time.perf_counter()
        times: list[float] = []
        # At least NEIGHBOUR_SECONDS: at 50M points one of the large tenant's rollups takes ~7 s,
        # and 30 small rollups alone (0.5 s) would have been timed beside almost none of its load.
        while len(times) < rounds or time.perf_counter() - began < NEIGHBOUR_SECONDS:
            times.append(await _rollup(http, small))
        seconds = time.perf_counter() - began
        control["stop"].set()
        noise = await asyncio.to_thread(results.get)
        noise_process.join()
    loaded = statistics.median(times)
    return {
        "rounds": len(times),
        "ingest_clients": clients,
        "alone_p50_ms": round(alone * 1000, 2),
        "loaded_p50_ms": round(loaded * 1000, 2),
        "loaded_p95_ms": round(percentile(times, 0.95) * 1000, 2),
        "p50_ratio": round(loaded / alone, 3),
        "aim": "p50_ratio <= 1.5",
        "small_tenant_seconds": round(seconds, 2),
        "large_tenant_during": {**noise, "points_per_second": round(noise["points"] / noise["seconds"])},
    }


async def sign_up_tenants(base_url: str, small_tenants: int) -> Tenants:
    gate = asyncio.Semaphore(4)  # a few at a time: each signup hashes a password

    async def one(http: httpx.AsyncClient, index: int) -> dict[str, str]:
        async with gate:
            return await signup(http, index)

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        created = await asyncio.gather(*(one(http, i) for i in range(small_tenants + 1)))
    return Tenants(small=created[1:], large=created[0])


async def measure_size(
    args: argparse.Namespace, urls: DatabaseUrls, superuser: str, base_url: str, tenants: Tenants, size: int
) -> dict[str, Any]:
    small_rollup = await bench_query(base_url, urls, tenants.small, args.rounds, window=YEAR)
    large_rollup = await bench_query(base_url, urls, [tenants.large], args.large_rounds, window=YEAR)
    ingest = await bench_ingest(base_url, urls, superuser, args.clients, args.ingest_points)
    neighbour = await bench_neighbour(base_url, tenants, size, args.clients, args.rounds)
    return {
        "rollup_small": small_rollup,
        "rollup_large": large_rollup,
        "ingest": ingest,
        "neighbour": neighbour,
    }


async def run(
    args: argparse.Namespace, urls: DatabaseUrls, superuser: str, base_url: str
) -> list[dict[str, Any]]:
    tenants = await sign_up_tenants(base_url, args.small_tenants)
    have, extra, steps = Layout(), 0, []
    for size in args.sizes:
        want = layout_for(size - extra, args.small_tenants)
        loading = await grow(superuser, list(new_series(have, want, tenants)), args.load_streams)
        have = want
        points_before = have.points(args.small_tenants) + extra
        print(f"{points_before:,} points loaded ({loading})", flush=True)
        began = time.perf_counter()
        figures = await measure_size(args, urls, superuser, base_url, tenants, size)
        figures["measure_seconds"] = round(time.perf_counter() - began)
        extra += 2 * args.ingest_points + figures["neighbour"]["large_tenant_during"]["points"]
        step = {
            "target_points": size,
            "points_measured": points_before,
            "layout": {**asdict(have), "small_tenants": args.small_tenants},
            "large_tenant_points": have.large_stores * len(LARGE_METRICS) * HOURS_2Y,
            "large_tenant_revenue_points_in_year": have.large_stores * 365 * 24,
            "loading": loading,
            "table": await table_size(superuser),
            **figures,
            "load_average": os.getloadavg(),
        }
        print_step(step)
        steps.append(step)
        write_report(args, steps)  # after every size: a run stopped early still leaves its figures


def write_report(args: argparse.Namespace, steps: list[dict[str, Any]]) -> None:
    report = {
        "benchmark": "scale_points",
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "api_workers": args.workers,
        "sizes_asked": args.sizes,
        "steps": steps,
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))


def print_step(step: dict[str, Any]) -> None:
    small, large, ingest, neighbour = (
        step[k] for k in ("rollup_small", "rollup_large", "ingest", "neighbour")
    )
    print(
        f"{step['points_measured']:>12,} pts  {step['table']['total_bytes'] / 2**30:6.2f} GiB | "
        f"small rollup API {small['api_p50_ms']} / raw {small['raw_p50_ms']} ms ({small['p50_ratio']}x) | "
        f"large rollup API {large['api_p50_ms']} / raw {large['raw_p50_ms']} ms ({large['p50_ratio']}x) | "
        f"ingest API {ingest['api_points_per_second']:,} / COPY {ingest['copy_points_per_second']:,} pts/s "
        f"({ingest['api_to_copy_ratio']}x) | neighbour {neighbour['alone_p50_ms']} -> "
        f"{neighbour['loaded_p50_ms']} ms ({neighbour['p50_ratio']}x) | load {step['load_average'][0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", type=lambda text: [int(s) for s in text.split(",")], default=[1_000_000, 10_000_000]
    )
    parser.add_argument("--small-tenants", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4, help="concurrent ingest clients")
    parser.add_argument("--workers", type=int, default=2, help="API processes (make serve: 2)")
    parser.add_argument("--ingest-points", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="rollups per small-tenant figure")
    parser.add_argument("--large-rounds", type=int, default=10, help="rollups of the large tenant")
    parser.add_argument("--load-streams", type=int, default=2, help="concurrent COPY connections")
    args = parser.parse_args()

    with migrated_database(BENCH_DATABASE) as (server, urls):
        # Tenants sign up once and the run outlasts the default 15-minute access token (50M: ~30 min).
        process, base_url = start_server(
            urls, args.workers, SIGNUP_RATE_LIMIT_PER_HOUR="1000", ACCESS_TOKEN_MINUTES="120"
        )
        try:
            asyncio.run(run(args, urls, server.superuser_dsn(BENCH_DATABASE), base_url))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
