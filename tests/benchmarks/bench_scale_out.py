"""Scale-out benchmark: an authenticated read's requests/s through nginx and PgBouncer (transaction
mode) with one API process behind it, then two, in one run.

    python -m tests.benchmarks.bench_scale_out [--connections 16] [--seconds 6]

The topology is the scale-out test's (tests/infra/scale_out.py), without job workers: nginx on
loopback balancing ``python -m backend.server`` processes whose app role reaches PostgreSQL through
PgBouncer. wrk drives ``GET /api/v1/auth/me`` and a monthly rollup of ~700 daily points for the same
tenant. On one machine the processes share its cores (and PostgreSQL's): the ratio says how much a
second process adds here, not what a second machine would.

Writes ``.bench/scale_out.json``. A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.utils.database_urls import DatabaseUrls
from tests.benchmarks.bench_load import _REPORT_LUA, _lua_file, _prepare_tenant, _wrk
from tests.benchmarks.support import migrated_database, wait_until_warm
from tests.infra.scale_out import require_system_binaries, scale_out

BENCH_DATABASE = "dyocense_bench_scale_out"
ROOT = Path(__file__).resolve().parents[2]
READS = {"auth_me": "/api/v1/auth/me", "rollup_month": "/api/v1/metrics/revenue?bucket=month&agg=sum"}


def _measure(urls: DatabaseUrls, processes: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    script = _lua_file(workdir, "report.lua", _REPORT_LUA)
    with scale_out(urls, workdir / f"api-{processes}", api_processes=processes, workers=0) as topology:
        for url in topology.api_urls:
            wait_until_warm(url)
        headers, _ = _prepare_tenant(topology.url)
        runs = {
            name: _wrk(topology.url + path, args.connections, args.seconds, headers, script)
            for name, path in READS.items()
        }
    for name, run in runs.items():
        figures = (
            f"{run['requests_per_second']:>8.1f} req/s  p50 {run['p50_ms']:>7.2f} ms  "
            f"p99 {run['p99_ms']:>8.2f} ms  non-2xx {run['non_2xx']}  errors {run['socket_errors']}"
        )
        print(f"api_processes={processes} c={args.connections} {name:<13} {figures}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=16, help="wrk concurrency")
    parser.add_argument("--seconds", type=int, default=6, help="wrk duration per endpoint")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench installs it as root)")
    require_system_binaries()
    # The processes' logs stay there for a look after the run.
    workdir = ROOT / ".bench" / "scale_out"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with migrated_database(BENCH_DATABASE) as (_, urls):
        results = {f"api_processes_{n}": _measure(urls, n, workdir, args) for n in (1, 2)}
    ratios = {
        name: round(
            results["api_processes_2"][name]["requests_per_second"]
            / results["api_processes_1"][name]["requests_per_second"],
            3,
        )
        for name in READS
    }
    report = {
        "benchmark": "scale_out",
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "topology": "wrk -> nginx -> N x backend.server -> PgBouncer (transaction mode) -> PostgreSQL",
        "tool": f"wrk -t1 -c{args.connections} -d{args.seconds}s",
        "results": results,
        "two_over_one": ratios,
    }
    out = ROOT / ".bench" / "scale_out.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"two API processes / one: {ratios}; wrote {out}")


if __name__ == "__main__":
    main()
