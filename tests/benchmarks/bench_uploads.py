"""Big-upload benchmark: a 150,000-row CSV (450,000 points) through the API as a job, end to end.

    python -m tests.benchmarks.bench_uploads [--rows 150000]

One API process (``python -m backend.server``) and one job worker (``python -m backend.worker``)
on a fresh database. For ``POST /api/v1/metrics/upload`` and for a ``file`` data source's upload
(each on its own tenant), it times the request (202 + Location) and then polls the job until it
ends, recording every progress value it saw. Points/s = points written / (request + job seconds).
The aim is at least 100,000 points/s (issue 20, item 6) with progress that moves per chunk. In the
same run the same points are COPYed straight into ``business_metrics`` (superuser, no RLS, no
parsing: PostgreSQL's own floor on this machine), and the report gives each upload's ratio to it.

Writes ``.bench/uploads.json``. A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from backend.utils.database_urls import DatabaseUrls
from tests.benchmarks.support import (
    ROOT,
    copy_points,
    migrated_database,
    server_command,
    server_env,
    wait_until_healthy,
    write_report,
)
from tests.services.connectors.fakes import free_port

BENCH_DATABASE = "dyocense_bench_uploads"
STORES = 100
METRICS = ("revenue", "orders", "visits")
POLL_SECONDS = 0.1


def wide_csv(rows: int) -> bytes:
    """`date,store,revenue,orders,visits`: one row per day and store, three points per row."""
    lines = ["date,store," + ",".join(METRICS)]
    first = date(2020, 1, 1)
    for i in range(rows):
        day = first + timedelta(days=i // STORES)
        lines.append(f"{day.isoformat()},s{i % STORES:03d},{i % 977}.5,{i % 31},{i % 401}")
    return ("\n".join(lines) + "\n").encode()


def _signup(http: httpx.Client, label: str) -> dict[str, str]:
    response = http.post(
        "/api/v1/tenants",
        json={
            "name": f"Upload bench {label}",
            "owner_email": f"upload-{uuid.uuid4().hex[:10]}@example.com",
            "owner_password": "benchmark-password-1",
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['tokens']['access_token']}"}


def _follow(http: httpx.Client, headers: dict[str, str], location: str) -> tuple[dict[str, Any], list[int]]:
    """Poll the job until it ends: its last state and every distinct progress value seen on the way."""
    seen: list[int] = []
    while True:
        job = http.get(location, headers=headers).json()
        if not seen or seen[-1] != job["progress"]:
            seen.append(job["progress"])
        if job["status"] in ("succeeded", "failed"):
            return job, seen
        time.sleep(POLL_SECONDS)


def measure(http: httpx.Client, headers: dict[str, str], path: str, content: bytes) -> dict[str, Any]:
    began = time.perf_counter()
    response = http.post(path, headers=headers, files={"file": ("big.csv", content, "text/csv")})
    request_seconds = time.perf_counter() - began
    if response.status_code != 202:
        raise RuntimeError(f"{path} answered {response.status_code}, not 202: {response.text[:300]}")
    job, progress = _follow(http, headers, response.headers["Location"])
    seconds = time.perf_counter() - began
    if job["status"] != "succeeded":
        raise RuntimeError(f"the upload job failed: {job['error']}")
    points = int(job["result"]["points"])
    return {
        "points": points,
        "request_seconds": round(request_seconds, 3),
        "total_seconds": round(seconds, 3),
        "points_per_second": round(points / seconds),
        "progress_values_seen": progress,
        "final_message": job["message"],
        "aim": "points_per_second >= 100000",
    }


def copy_baseline(superuser_dsn: str, content: bytes) -> dict[str, Any]:
    """The file's points COPYed into the table as the upload writes them (``METRIC_COLUMNS``)."""
    lines = content.decode().splitlines()[1:]
    tenant_id = uuid.uuid4()
    records = []
    for line in lines:
        day, store, *values = line.split(",")
        ts = datetime.fromisoformat(day).replace(tzinfo=UTC)
        key = json.dumps({"store": store}, separators=(",", ":"))
        records += [
            (tenant_id, metric, key, ts, float(value), key, "upload")
            for metric, value in zip(METRICS, values, strict=True)
        ]

    async def copy() -> float:
        connection = await asyncpg.connect(superuser_dsn)
        try:
            await connection.execute("insert into tenants (id, name) values ($1, 'COPY baseline')", tenant_id)
            return await copy_points(connection, records)
        finally:
            await connection.close()

    seconds = asyncio.run(copy())
    rate = round(len(records) / seconds)
    return {"points": len(records), "seconds": round(seconds, 3), "points_per_second": rate}


def wait_for_worker(http: httpx.Client, limit_seconds: float = 300) -> float:
    """Seconds until readiness counts a live job worker: a deployment's workers are running before
    uploads arrive, so the worker's start-up (its imports take tens of seconds) is not timed."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_seconds:
        if (http.get("/api/ready").json().get("live_workers") or 0) > 0:
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"no job worker was live after {limit_seconds:g} s")


def _env(urls: DatabaseUrls, **extra: str) -> dict[str, str]:
    return server_env(
        urls, DATABASE_WORKER_URL=urls.require_worker(), SIGNUP_RATE_LIMIT_PER_HOUR="1000", **extra
    )


def run(urls: DatabaseUrls, superuser_dsn: str, rows: int) -> dict[str, Any]:
    port = free_port()
    api = subprocess.Popen(server_command(port), env=_env(urls), cwd=ROOT)
    worker = subprocess.Popen(
        [sys.executable, "-m", "backend.worker"],
        env=_env(urls, WORKER_METRICS_PORT=str(free_port())),
        cwd=ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(api, base_url)
        content = wide_csv(rows)
        with httpx.Client(base_url=base_url, timeout=300) as http:
            print(f"a job worker was live after {wait_for_worker(http):.1f} s")
            metrics_tenant = _signup(http, "metrics")
            metrics = measure(http, metrics_tenant, "/api/v1/metrics/upload", content)
            print(
                f"metrics upload: {metrics['points']:,} points in {metrics['total_seconds']} s -> "
                f"{metrics['points_per_second']:,} pts/s; progress seen {metrics['progress_values_seen']}"
            )
            source_tenant = _signup(http, "data source")
            created = http.post(
                "/api/v1/data-sources",
                headers=source_tenant,
                json={"name": "Big file", "connector_type": "file", "config": {"layout": "wide"}},
            )
            created.raise_for_status()
            source = measure(
                http, source_tenant, f"/api/v1/data-sources/{created.json()['id']}/upload", content
            )
            print(
                f"data-source upload: {source['points']:,} points in {source['total_seconds']} s -> "
                f"{source['points_per_second']:,} pts/s; progress seen {source['progress_values_seen']}"
            )
    finally:
        for process in (worker, api):
            process.terminate()
            process.wait(timeout=60)
    raw = copy_baseline(superuser_dsn, content)
    for upload in (metrics, source):
        upload["ratio_to_raw_copy"] = round(upload["points_per_second"] / raw["points_per_second"], 2)
    print(
        f"raw COPY of the same points: {raw['points_per_second']:,} pts/s; ratios "
        f"{metrics['ratio_to_raw_copy']} / {source['ratio_to_raw_copy']}"
    )
    return {
        "rows": rows,
        "bytes": len(content),
        "metrics_upload": metrics,
        "data_source_upload": source,
        "raw_copy": raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=150_000)
    args = parser.parse_args()
    with migrated_database(BENCH_DATABASE) as (server, urls):
        results = run(urls, server.superuser_dsn(BENCH_DATABASE), args.rows)
    report = {
        "benchmark": "uploads",
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        **results,
    }
    print(f"wrote {write_report('uploads', report)}")


if __name__ == "__main__":
    main()
