"""Load benchmark: requests/s, p50 and p99 under concurrency, with wrk, against ``make serve``.

    python -m tests.benchmarks.bench_load [--workers 1,2] [--connections 8,64] [--seconds 4]

For each server (the command ``make serve`` runs: ``python -m backend.server --workers N``,
JSON logs, no reload; one process, then two) and each concurrency, wrk drives:

- ``GET /api/health`` (no database: the ceiling of this server),
- ``GET /api/v1/auth/me``, ``GET /api/v1/goals`` (a list), a monthly rollup of ~700 daily
  points (``/api/v1/metrics/revenue?bucket=month&agg=sum``), a goal's progress,
- ``POST /api/v1/metrics``, a batch of 10 new points per request (a wrk Lua script).

Each authenticated figure is also given as a ratio to health's requests/s on the same server
and concurrency. Aim: every authenticated read >= 0.5x health. wrk's non-2xx answers and
socket errors are reported too: a run with any is not a measurement of the happy path.

Writes ``.bench/load.json``. A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from backend.utils.database_urls import DatabaseUrls
from tests.benchmarks.support import (
    migrated_database,
    start_server,
    write_report,
)

BENCH_DATABASE = "dyocense_bench_load"
READS = ("auth_me", "goals_list", "rollup_month", "goal_progress")

# wrk calls done() once at the end: the figures as one JSON line (latencies in microseconds).
_REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nJSON {"requests": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

# Every request a batch of 10 new points a minute apart: a metric of its own per run, and wrk's
# threads count from different starts, so each point is an insert, never an update.
_INGEST_LUA = """
local counter = 0
local base = 1600000000
local threads = 0
math.randomseed(os.time())
local run = math.random(1, 1000000000)
setup = function(thread)
  thread:set("offset", threads * 1000000)
  thread:set("metric", "ingest_load_" .. run)
  threads = threads + 1
end
init = function(args) counter = offset or 0 end
request = function()
  counter = counter + 1
  local points = {}
  for i = 0, 9 do
    local ts = os.date("!%Y-%m-%dT%H:%M:%SZ", base + (counter * 10 + i) * 60)
    points[#points + 1] = string.format('{"metric":"%s","ts":"%s","value":%d}', metric, ts, i)
  end
  return wrk.format("POST", nil, nil, '{"points":[' .. table.concat(points, ",") .. ']}')
end
"""


def _lua_file(directory: Path, name: str, *parts: str) -> Path:
    path = directory / name
    path.write_text("\n".join(parts))
    return path


def _prepare_tenant(base_url: str) -> tuple[dict[str, str], str]:
    """A tenant with ~700 daily revenue points and one goal on it: its auth headers and goal id."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        signup = http.post(
            "/api/v1/tenants",
            json={
                "name": "Load bench",
                "owner_email": f"load-{uuid.uuid4().hex[:10]}@example.com",
                "owner_password": "benchmark-password-1",
            },
        )
        signup.raise_for_status()
        headers = {"Authorization": f"Bearer {signup.json()['tokens']['access_token']}"}
        start = datetime(2024, 1, 1, tzinfo=UTC)
        points = [
            {"metric": "revenue", "ts": (start + timedelta(days=i)).isoformat(), "value": 100.0 + i % 31}
            for i in range(700)
        ]
        http.post("/api/v1/metrics", headers=headers, json={"points": points}).raise_for_status()
        goal = http.post(
            "/api/v1/goals",
            headers=headers,
            json={
                "title": "Revenue up",
                "metric": "revenue",
                "target_value": 200.0,
                "baseline_value": 100.0,
                "direction": "increase",
                "deadline": (date.today() + timedelta(days=90)).isoformat(),
            },
        )
        goal.raise_for_status()
        goal_id = str(goal.json()["id"])
        for path in ("/api/v1/auth/me", "/api/v1/goals", f"/api/v1/goals/{goal_id}/progress"):
            http.get(path, headers=headers).raise_for_status()
    return headers, goal_id


def _wrk(url: str, connections: int, seconds: int, headers: dict[str, str], script: Path) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    figures: dict[str, Any] = json.loads(output.rsplit("JSON ", 1)[1])
    return {
        "requests_per_second": round(figures["requests"] / figures["seconds"], 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "requests": figures["requests"],
        "non_2xx": figures["non_2xx"],
        "socket_errors": figures["socket_errors"],
    }


def _bench_server(
    urls: DatabaseUrls, workers: int, connections: list[int], seconds: int, scripts: dict[str, Path]
) -> dict[str, Any]:
    # Each process spawns its compute executor and warms up: slow on a busy 2-core machine.
    process, base_url = start_server(
        urls, workers, limit_seconds=300, quiet=True, LOG_JSON="true", ACCESS_TOKEN_MINUTES="120"
    )
    try:
        headers, goal_id = _prepare_tenant(base_url)
        json_headers = {**headers, "Content-Type": "application/json"}
        targets = {
            "health": ("/api/health", {}, scripts["report"]),
            "auth_me": ("/api/v1/auth/me", headers, scripts["report"]),
            "goals_list": ("/api/v1/goals", headers, scripts["report"]),
            "rollup_month": ("/api/v1/metrics/revenue?bucket=month&agg=sum", headers, scripts["report"]),
            "goal_progress": (f"/api/v1/goals/{goal_id}/progress", headers, scripts["report"]),
            "ingest_10_points": ("/api/v1/metrics", json_headers, scripts["ingest"]),
        }
        results: dict[str, Any] = {}
        for count in connections:
            runs = {
                name: _wrk(base_url + path, count, seconds, target_headers, script)
                for name, (path, target_headers, script) in targets.items()
            }
            health = runs["health"]["requests_per_second"]
            for name, run in runs.items():
                run["ratio_to_health"] = round(run["requests_per_second"] / health, 3) if health else None
                print(
                    f"workers={workers} c={count:<3} {name:<17} {run['requests_per_second']:>8.1f} req/s  "
                    f"p50 {run['p50_ms']:>7.2f} ms  p99 {run['p99_ms']:>8.2f} ms  "
                    f"x{run['ratio_to_health']}  non-2xx {run['non_2xx']}  errors {run['socket_errors']}"
                )
            results[f"c{count}"] = runs
        return results
    finally:
        process.terminate()
        process.wait(timeout=30)


def _aims_met(servers: dict[str, Any]) -> dict[str, bool]:
    return {
        f"{server}/{level}/{name}": runs[name]["ratio_to_health"] >= 0.5
        for server, levels in servers.items()
        for level, runs in levels.items()
        for name in READS
    }


def _write_report(args: argparse.Namespace, servers: dict[str, Any]) -> None:
    aims = _aims_met(servers)
    report = {
        "benchmark": "load",
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "tool": "wrk -t1, one connection count at a time, in one run",
        "seconds_per_measurement": args.seconds,
        "aim": "every authenticated read >= 0.5x /api/health requests/s on the same server",
        "servers": servers,
        "aims_met": aims,
    }
    out = write_report("load", report)
    print(f"aims met: {sum(aims.values())}/{len(aims)}; wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2", help="server process counts, in order")
    parser.add_argument("--connections", default="8,64", help="wrk concurrency levels")
    parser.add_argument("--seconds", type=int, default=4, help="wrk duration per endpoint and level")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench installs it as root)")
    workers = [int(n) for n in args.workers.split(",")]
    connections = [int(n) for n in args.connections.split(",")]

    with tempfile.TemporaryDirectory() as scratch, migrated_database(BENCH_DATABASE) as (_, urls):
        directory = Path(scratch)
        scripts = {
            "report": _lua_file(directory, "report.lua", _REPORT_LUA),
            "ingest": _lua_file(directory, "ingest.lua", _INGEST_LUA, _REPORT_LUA),
        }
        servers = {
            f"workers_{n}": _bench_server(urls, n, connections, args.seconds, scripts) for n in workers
        }
        _write_report(args, servers)


if __name__ == "__main__":
    main()
