"""Does logging an unexpected error stall the API? ``/api/health`` latency while 500s are served.

    python -m tests.benchmarks.bench_error_logging [--rounds 5]

Starts the real app under uvicorn (one process, console logs as in development, to a file)
with ``tests.utils.failing_app``'s failing route, then measures ``GET /api/health`` alone
and while a failing request is being answered and logged. A benchmark, not a test:
nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from backend.config import DatabaseSettings
from backend.utils.database_urls import resolve_database_urls
from tests.benchmarks.support import wait_until_healthy
from tests.services.connectors.fakes import free_port
from tests.utils.failing_app import serve_command

ROOT = Path(__file__).resolve().parents[2]


def start_server(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    database = os.environ.get("DYOCENSE_TEST_DATABASE", "dyocense_test")  # no migrations needed
    urls = resolve_database_urls(DatabaseSettings(url=None, owner_url=None), database=database)
    port = free_port()
    command, env = serve_command(urls, port, log_json=False)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_healthy(process, base_url)
    return process, base_url


async def timed_health(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.get("/api/health")
    response.raise_for_status()
    return time.perf_counter() - started


async def health_during_error(base_url: str) -> tuple[float, float]:
    """(health latency, failing request latency) with the failing request sent first."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=300) as failing,
        httpx.AsyncClient(base_url=base_url, timeout=300) as healthy,
    ):
        started = time.perf_counter()
        error = asyncio.create_task(
            failing.get("/test/explode", headers={"x-planted-credential": "planted-credential-value"})
        )
        await asyncio.sleep(0.05)  # the failing request is in the server first
        health = await timed_health(healthy)
        response = await error
        assert response.status_code == 500, response.status_code
        return health, time.perf_counter() - started


async def run(base_url: str, rounds: int) -> None:
    # Warm-up: the first request of a fresh process pays one-off costs (seconds on a busy machine).
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        await client.get("/test/explode", headers={"x-planted-credential": "planted-credential-value"})
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        alone = [await timed_health(client) for _ in range(20)]
    during = [await health_during_error(base_url) for _ in range(rounds)]
    print(
        f"health alone:           median {statistics.median(alone) * 1000:8.1f} ms, "
        f"max {max(alone) * 1000:8.1f} ms"
    )
    healths = [health for health, _ in during]
    errors = [error for _, error in during]
    print(
        f"health during a 500:    median {statistics.median(healths) * 1000:8.1f} ms, "
        f"max {max(healths) * 1000:8.1f} ms"
    )
    print(f"the 500 itself:         median {statistics.median(errors) * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "api.log"
        process, base_url = start_server(log_path)
        try:
            asyncio.run(run(base_url, args.rounds))
        finally:
            process.terminate()
            process.wait(timeout=30)
        lines = log_path.read_text(errors="replace").count("\n")
        print(f"log lines written:      {lines} ({log_path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
