"""Optimizer correctness and speed benchmark.

Run: ``.venv/bin/python -m tests.benchmarks.bench_optimizer`` (writes ``.bench/optimizer.json``);
``--templates`` runs parts 2 and 3 only (the classics are skipped).

1. Classic instances (netlib LPs, MIPLIB 3) through the raw MPS path with each solver,
   against their published optima.
2. Each template at a realistic small-business size with CBC and HiGHS.
3. The overhead of the service path (validate + build + PuLP + read back + explain) over
   the raw solve: the same model exported to MPS and solved by the solver directly (the
   CBC binary, or highspy in process), measured in the same run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import highspy
import pulp
from pulp.apis import coin_api

from backend.services.optimizer import SolveOptions, get_template, parse_params, run_template, solve_mps
from tests.services.optimizer.miplib import PUBLISHED, SAMPLES

SOLVERS = ("cbc", "highs")
TIME_LIMIT = 120.0
REPEATS = 3
OUTPUT = Path(".bench/optimizer.json")


def budget_instance(rng: random.Random, channels: int = 50) -> dict[str, Any]:
    """Saturating response curves a * (1 - exp(-spend / b)) sampled at 6 points: concave by construction."""
    items = []
    for index in range(channels):
        scale, saturation = rng.uniform(5_000, 60_000), rng.uniform(1_000, 8_000)
        spends = [round(f * saturation, 2) for f in (0, 0.5, 1, 2, 3, 4)]
        curve = [{"spend": s, "revenue": scale * (1 - math.exp(-s / saturation))} for s in spends]
        channel: dict[str, Any] = {"name": f"channel_{index:02d}", "response_curve": curve}
        if rng.random() < 0.2:
            channel["min_spend"] = round(0.3 * saturation, 2)
        if rng.random() < 0.2:
            channel["max_spend"] = round(2.5 * saturation, 2)
        items.append(channel)
    total = sum(c["response_curve"][-1]["spend"] for c in items)
    return {
        "channels": items,
        "total_budget": round(0.35 * total, 2),
        "objective": "profit",
        "gross_margin": 0.6,
    }


def inventory_instance(rng: random.Random, products: int = 500) -> dict[str, Any]:
    """A shop's catalogue: varied prices and demand, MOQs, order costs, a tight budget and shelf space."""
    items = []
    for index in range(products):
        cost = round(rng.uniform(2, 80), 2)
        mean = round(rng.uniform(5, 200))
        items.append(
            {
                "sku": f"SKU-{index:04d}",
                "unit_cost": cost,
                "on_hand": rng.randint(0, 60),
                "demand_mean": mean,
                "demand_std": round(mean * rng.uniform(0.1, 0.5), 1),
                "holding_cost": round(0.02 * cost, 3),
                "order_cost": rng.choice([10, 20, 35, 50]),
                "min_order_qty": rng.choice([0, 12, 24, 48, 100]),
                "volume_per_unit": round(rng.uniform(0.1, 2.0), 2),
                "stockout_cost": round(1.5 * cost, 2),
                "supplier": rng.choice("ABCDEFGH"),
            }
        )
    need_cost = sum(p["unit_cost"] * max(p["demand_mean"] * 1.3 - p["on_hand"], 0) for p in items)
    need_space = sum(p["volume_per_unit"] * max(p["demand_mean"] * 1.3, p["on_hand"]) for p in items)
    return {
        "products": items,
        "budget": round(0.7 * need_cost),
        "storage_capacity": round(0.85 * need_space),
        "service_level": 0.95,
    }


def staffing_instance(rng: random.Random, staff: int = 30) -> dict[str, Any]:
    """30 staff x 7 days x 3 eight-hour shifts, supervisors, part-timers with days off, 11 h rest."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    employees = []
    for index in range(staff):
        full_time = index < 20
        supervisor = index % 4 == 0
        employee: dict[str, Any] = {
            "name": f"emp_{index:02d}",
            "hourly_cost": rng.randint(15, 30) + (5 if supervisor else 0),
            "skills": ["supervisor"] if supervisor else [],
            "min_hours": 32 if full_time else 0,
            "max_hours": 40 if full_time else 24,
        }
        if not full_time:
            employee["unavailable"] = [{"day": d} for d in rng.sample(days, 2)]
        employees.append(employee)
    requirements = []
    for day in days:
        weekend = day in ("sat", "sun")
        for shift, (weekday_need, weekend_need) in {
            "morning": (6, 4),
            "evening": (5, 6),
            "night": (2, 2),
        }.items():
            requirements.append(
                {"day": day, "shift": shift, "staff": weekend_need if weekend else weekday_need}
            )
            requirements.append({"day": day, "shift": shift, "staff": 1, "skill": "supervisor"})
    return {
        "days": days,
        "shifts": [
            {"name": "morning", "start_hour": 6, "hours": 8},
            {"name": "evening", "start_hour": 14, "hours": 8},
            {"name": "night", "start_hour": 22, "hours": 8},
        ],
        "employees": employees,
        "requirements": requirements,
        "max_shifts_per_day": 1,
        "min_rest_hours": 11,
        "max_consecutive_days": 5,
    }


def product_mix_instance(rng: random.Random, products: int = 300, resources: int = 20) -> dict[str, Any]:
    """A workshop catalogue: each product uses a few of the shared resources."""
    res = [
        {"name": f"res_{k:02d}", "capacity": rng.randint(500, 3000), "unit": "hours"}
        for k in range(resources)
    ]
    items = []
    for index in range(products):
        price = round(rng.uniform(20, 400), 2)
        item: dict[str, Any] = {
            "name": f"prod_{index:03d}",
            "price": price,
            "make_cost": round(price * rng.uniform(0.3, 0.8), 2),
            "resource_use": {
                r["name"]: round(rng.uniform(0.2, 5), 2) for r in rng.sample(res, rng.randint(1, 4))
            },
            "max_sales": rng.randint(10, 300),
        }
        if rng.random() < 0.2:
            item["buy_cost"] = round(price * rng.uniform(0.7, 0.95), 2)
        if rng.random() < 0.1:
            item["min_sales"] = rng.randint(1, 5)
        items.append(item)
    return {"products": items, "resources": res}


def raw_solve_seconds(
    problem: pulp.LpProblem, solver: str, options: SolveOptions
) -> tuple[float, float | None]:
    """Export ``problem`` to MPS and time the solver on it directly (objective for cross-checking)."""
    with tempfile.TemporaryDirectory(prefix="bench-opt-") as tmp:
        path = Path(tmp) / "model.mps"
        problem.writeMPS(str(path))
        maximize = problem.sense == pulp.LpMaximize
        is_mip = any(v.cat == pulp.LpInteger for v in problem.variables())
        constant = float(problem.objective.constant)
        if solver == "cbc":
            solution = Path(tmp) / "model.sol"
            args = [coin_api.pulp_cbc_path, str(path)] + (["-max"] if maximize else [])
            args += ["-sec", str(options.time_limit_seconds), "-threads", "1"]
            if is_mip:
                args += ["-ratio", str(options.relative_gap)]
            args += ["-solve", "-solution", str(solution)]
            started = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            elapsed = time.perf_counter() - started
            first = solution.read_text().splitlines()[0]
            objective = float(first.rsplit(" ", 1)[-1]) if "objective value" in first else None
            return elapsed, None if objective is None else objective + constant
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.readModel(str(path))
        if maximize:
            highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        highs.setOptionValue("time_limit", options.time_limit_seconds)
        # As the service (and the CBC command above): one thread. HiGHS keeps one thread pool per
        # process and refuses a run asking for another size, so both sides must agree anyway.
        highs.setOptionValue("threads", 1)
        if is_mip:
            highs.setOptionValue("mip_rel_gap", options.relative_gap)
        started = time.perf_counter()
        highs.run()
        elapsed = time.perf_counter() - started
        return elapsed, highs.getInfo().objective_function_value + constant


def bench_classics() -> list[dict[str, Any]]:
    rows = []
    for instance, published in PUBLISHED.items():
        for solver in SOLVERS:
            result = solve_mps(
                SAMPLES / f"{instance}.mps",
                SolveOptions(solver=solver, time_limit_seconds=TIME_LIMIT),
                include_values=False,
            )
            error = None if result.objective is None else abs(result.objective - published)
            rows.append(
                {
                    "instance": instance,
                    "solver": solver,
                    "status": result.status,
                    "objective": result.objective,
                    "published": published,
                    "abs_error": error,
                    "matches": error is not None and error <= max(1e-4, 1e-7 * abs(published)),
                    "read_seconds": result.timings.validate_seconds,
                    "solve_seconds": result.timings.solve_seconds,
                    "variables": result.size.variables,
                    "integer_variables": result.size.integer_variables,
                    "constraints": result.size.constraints,
                }
            )
    return rows


INSTANCES = {
    "budget_allocation": ("50 channels", budget_instance),
    "inventory": ("500 products", inventory_instance),
    "staffing": ("30 staff x 7 days x 3 shifts", staffing_instance),
    "product_mix": ("300 products x 20 resources", product_mix_instance),
}


def bench_templates() -> list[dict[str, Any]]:
    rows = []
    for template, (label, make) in INSTANCES.items():
        params = make(random.Random(42))
        for solver in SOLVERS:
            options = SolveOptions(solver=solver, time_limit_seconds=TIME_LIMIT)
            # Service and raw runs alternate, so a burst of load on the shared machine hits both.
            runs, raw = [], []
            for _ in range(REPEATS):
                runs.append(run_template(template, params, options))
                problem = get_template(template).build(parse_params(template, params)).problem
                raw.append(raw_solve_seconds(problem, solver, options))
            result = runs[-1]
            total = statistics.median(r.timings.total_seconds for r in runs)
            solve = statistics.median(r.timings.solve_seconds for r in runs)
            raw_seconds = statistics.median(t for t, _ in raw)
            rows.append(
                {
                    "template": template,
                    "size": label,
                    "solver": solver,
                    "status": result.status,
                    "objective": result.objective,
                    "gap": result.gap,
                    "raw_objective": raw[-1][1],
                    "variables": result.size.variables,
                    "integer_variables": result.size.integer_variables,
                    "constraints": result.size.constraints,
                    "validate_seconds": statistics.median(r.timings.validate_seconds for r in runs),
                    "build_seconds": statistics.median(r.timings.build_seconds for r in runs),
                    "solve_seconds": solve,
                    "explain_seconds": statistics.median(r.timings.explain_seconds for r in runs),
                    "total_seconds": total,
                    "raw_solve_seconds": raw_seconds,
                    "service_over_raw": total / raw_seconds,
                    "non_solve_over_solve": (total - solve) / solve,
                }
            )
    return rows


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    started = time.perf_counter()
    only_templates = "--templates" in sys.argv[1:]
    classics = bench_classics() if SAMPLES.is_dir() and not only_templates else []
    templates = bench_templates()
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "pulp": pulp.__version__,
        "highspy": highspy.Highs().version(),
        "repeats": REPEATS,
        "classics": classics,
        "templates": templates,
        "wall_seconds": time.perf_counter() - started,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2))

    print("Classic instances (raw MPS path)")
    if only_templates:
        print("  skipped: --templates")
    elif not classics:
        print("  skipped: install coinor-libcoinutils-dev for /usr/share/coin/Data/Sample")
    for row in classics:
        print(
            f"  {row['instance']:7s} {row['solver']:5s} {row['status']:9s} obj {_fmt(row['objective'])} "
            f"published {row['published']} match {row['matches']} solve {row['solve_seconds']:.3f}s"
        )
    print("Templates (median of", REPEATS, "runs)")
    for row in templates:
        print(
            f"  {row['template']:17s} {row['size']:29s} {row['solver']:5s} {row['status']:8s} "
            f"obj {_fmt(row['objective'], 2)} gap {_fmt(row['gap'], 6)} total {row['total_seconds']:.3f}s "
            f"solve {row['solve_seconds']:.3f}s raw {row['raw_solve_seconds']:.3f}s "
            f"service/raw {row['service_over_raw']:.2f} non-solve/solve {row['non_solve_over_solve']:.2f}"
        )
    print(f"Wrote {OUTPUT} in {report['wall_seconds']:.1f}s")


if __name__ == "__main__":
    main()
