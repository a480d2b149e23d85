"""Known-truth benchmark of the evidence engine on two years of daily shop metrics.

Run: ``.venv/bin/python -m tests.benchmarks.bench_evidence_timeseries [--replications N]``.
Writes ``.bench/evidence_timeseries.json`` and prints a summary.

Cases (``tests/services/evidence/synthetic.py::shop_series``, seeds fixed):

* nulls — a lever with no effect that shares a trend with revenue, an independent random
  walk, one unobserved random walk (demand) driving both, and a seasonal lever with no
  effect (season and holidays drive both);
* true effects — a seasonal lever with effect 2.0, its confounder (promo) adjusted for and
  visits as a negative control; a lagged effect (same day 0.5, next day 1.5: long-run 2.0).

Reported per case and design (``time_series``, the default, and ``levels``, the former
analysis): the share rated ``supported`` (on nulls: false supported, goal 0), the coverage
of the truth by the 95% interval (goal ≥ 90%), the mean estimate; and the time of one
default analysis (three confounders, two years) as wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.services.evidence import CausalSettings, RefutationSettings, predict_what_if
from backend.services.evidence.compute import AnalysisInputs, compute_analysis
from backend.services.evidence.mmm import period_response
from backend.services.evidence.mmm_service import MmmInputs, compute_mmm
from backend.services.evidence.types import AnalysisSpec, DesignKind, MmmSpec
from backend.services.optimizer import run_template
from backend.services.optimizer.mmm_curves import CURVE_SEGMENTS
from backend.services.optimizer.types import SolveOptions
from tests.services.evidence.mmm_synthetic import simulate_mmm
from tests.services.evidence.synthetic import analyze_lever, shop_series

OUTPUT = Path(".bench/evidence_timeseries.json")
SETTINGS = CausalSettings(refutation=RefutationSettings(num_simulations=20))
# The levels design is the comparison only: cheaper settings, same estimate and interval.
LEVELS_SETTINGS = CausalSettings(refutation=RefutationSettings(num_simulations=10), compare_methods=False)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    truth: float
    null: bool
    confounders: tuple[str, ...]
    effect: float = 2.0
    lag_effect: float = 0.0
    lags: tuple[int, ...] = ()
    negative_controls: tuple[str, ...] = ()


CASES = [
    Case("shared_trend_null", "shared_trend", 0.0, True, ("price",)),
    Case("random_walk_null", "random_walk", 0.0, True, ("price",)),
    Case("shared_random_walk_null", "shared_random_walk", 0.0, True, ("price",)),
    Case("seasonal_null_holidays_and_season", "seasonal", 0.0, True, ("promo",), effect=0.0),
    Case("adjusted_true_effect", "seasonal", 2.0, False, ("promo",), negative_controls=("visits",)),
    Case(
        "lagged_effect_cumulative",
        "seasonal",
        2.0,
        False,
        ("promo",),
        effect=0.5,
        lag_effect=1.5,
        lags=(1,),
    ),
]


def _analyse(case: Case, seed: int, design: DesignKind) -> dict[str, Any]:
    frame = shop_series(kind=case.kind, seed=seed, effect=case.effect, lag_effect=case.lag_effect)
    result = analyze_lever(
        frame,
        SETTINGS if design == "time_series" else LEVELS_SETTINGS,
        confounders=case.confounders,
        lags=case.lags,
        design=design,
        negative_controls=case.negative_controls if design == "time_series" else (),
    )
    estimate = result.lag_effects.cumulative if result.lag_effects else result.estimate
    row: dict[str, Any] = {
        "seed": seed,
        "estimate": estimate.value,
        "ci": [estimate.ci_low, estimate.ci_high],
        "covers": estimate.ci_low <= case.truth <= estimate.ci_high,
        "verdict": result.verdict,
        "transformation": result.design.transformation if result.design else None,
        "failed_checks": [r.name for r in result.refutations if r.passed is False],
    }
    if case.lags:
        what_if = predict_what_if(result, treatment_change=100)
        row["what_if_plus_100"] = [what_if.predicted_change, what_if.ci_low, what_if.ci_high]
        row["what_if_covers_truth"] = what_if.ci_low <= 100 * case.truth <= what_if.ci_high
        row["immediate"] = [result.lag_effects.immediate.value] if result.lag_effects else None
    return row


def _summary(case: Case, rows: list[dict[str, Any]]) -> dict[str, Any]:
    supported = float(np.mean([r["verdict"] == "supported" for r in rows]))
    summary: dict[str, Any] = {
        "truth": case.truth,
        "null": case.null,
        "replications": len(rows),
        "coverage": float(np.mean([r["covers"] for r in rows])),
        "mean_estimate": float(np.mean([r["estimate"] for r in rows])),
        "share_supported": supported,
        "verdicts": {
            v: sum(r["verdict"] == v for r in rows) for v in ("supported", "fragile", "not_supported")
        },
    }
    if case.lags:
        summary["what_if_coverage"] = float(np.mean([r["what_if_covers_truth"] for r in rows]))
    return summary


def _timing() -> dict[str, Any]:
    """One default analysis, as the API runs it: two years of days, three confounders."""
    frame = shop_series(kind="seasonal", seed=99)
    series = {
        name: [(stamp.to_pydatetime(), float(value)) for stamp, value in frame[name].items()]
        for name in ("lever", "revenue", "promo", "price", "visits")
    }
    spec = AnalysisSpec(
        outcome="revenue", treatment="lever", confounders=["promo", "price", "visits"], holiday_country="US"
    )
    inputs = AnalysisInputs(spec=spec, series=series, aggregation={name: "sum" for name in series})
    compute_analysis(inputs)  # warm-up: imports and caches, as in a long-lived worker process
    runs = []
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        compute_analysis(inputs)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        "wall_seconds_median": float(np.median([w for w, _ in runs])),
        "cpu_seconds_median": float(np.median([c for _, c in runs])),
        "load_average_1min": os.getloadavg()[0],
    }


def _mmm_plan_share(fitted: Any, budget: float, channel: str) -> float:
    """Share of ``budget`` the budget_allocation template gives ``channel`` on the fitted curves (30 days)."""
    spends = [budget * k / CURVE_SEGMENTS for k in range(CURVE_SEGMENTS + 1)]
    channels = [
        {
            "name": c.name,
            "response_curve": [{"spend": x, "revenue": period_response(c, x, 30)} for x in spends],
        }
        for c in fitted.channels
    ]
    params = {"channels": channels, "total_budget": budget, "spend_entire_budget": True}
    result = run_template("budget_allocation", params, SolveOptions(solver="highs"))
    return float(result.decisions[f"spend.{channel}"]) / budget


def _mmm_case(seeds: list[int]) -> dict[str, Any]:
    """Two years of daily data, three channels with known adstock and saturation, fitted as the API does."""
    runs = []
    for seed in seeds:
        truth = simulate_mmm(seed)
        names = [c for c in truth.frame.columns if c != "revenue"]
        series = {
            name: [(stamp.to_pydatetime(), float(value)) for stamp, value in truth.frame[name].items()]
            for name in truth.frame.columns
        }
        spec = MmmSpec(outcome="revenue", channels=names, holiday_country="US", bootstrap_draws=30)
        wall = time.perf_counter()
        fitted = compute_mmm(MmmInputs(spec=spec, series=series, aggregation=dict.fromkeys(series, "sum")))
        seconds = time.perf_counter() - wall
        by_name = {c.name: c for c in fitted.channels}
        best = max(truth.marginal_roi, key=truth.marginal_roi.__getitem__)
        mean_spend = truth.frame[names].mean()
        runs.append(
            {
                "seed": seed,
                "seconds": seconds,
                "roi_relative_error": {n: abs(by_name[n].roi.value - r) / r for n, r in truth.roi.items()},
                "roi_covered": {
                    n: by_name[n].roi.low <= r <= by_name[n].roi.high for n, r in truth.roi.items()
                },
                "marginal_roi_relative_error": {
                    n: abs(by_name[n].marginal_roi.value - r) / r for n, r in truth.marginal_roi.items()
                },
                "holdout_r2": fitted.fit.holdout_r2,
                "plan_moves_toward_best_marginal_roi": _mmm_plan_share(
                    fitted, 30 * float(mean_spend.sum()), best
                )
                > float(mean_spend[best] / mean_spend.sum()),
            }
        )
    errors = [e for run in runs for e in run["roi_relative_error"].values()]
    return {
        "seeds": seeds,
        "roi_relative_error_mean": float(np.mean(errors)),
        "roi_relative_error_max": float(np.max(errors)),
        "roi_interval_coverage": float(np.mean([c for run in runs for c in run["roi_covered"].values()])),
        "marginal_roi_relative_error_mean": float(
            np.mean([e for run in runs for e in run["marginal_roi_relative_error"].values()])
        ),
        "plan_moves_toward_best_marginal_roi": float(
            np.mean([run["plan_moves_toward_best_marginal_roi"] for run in runs])
        ),
        "fit_seconds_median": float(np.median([run["seconds"] for run in runs])),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--mmm-seeds", type=int, default=3)
    parser.add_argument("--only-mmm", action="store_true", help="run the marketing-mix case alone")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"replications": args.replications, "cases": {}}
    mmm = _mmm_case([3000 + i for i in range(args.mmm_seeds)])
    if args.only_mmm:
        print(json.dumps({k: v for k, v in mmm.items() if k != "runs"}, indent=2))
        return
    for case in CASES:
        seeds = [2000 + i for i in range(args.replications)]
        per_design = {}
        for design in ("time_series", "levels"):
            rows = [_analyse(case, seed, design) for seed in seeds]
            per_design[design] = {"summary": _summary(case, rows), "runs": rows}
        report["cases"][case.name] = per_design
    designed = {name: c["time_series"]["summary"] for name, c in report["cases"].items()}
    levels = {name: c["levels"]["summary"] for name, c in report["cases"].items()}
    nulls = [s for s in designed.values() if s["null"]]
    effects = [s for s in designed.values() if not s["null"]]
    report["headline"] = {
        "false_supported_rate_on_nulls": float(np.mean([s["share_supported"] for s in nulls])),
        "false_supported_rate_on_nulls_levels_design": float(
            np.mean([s["share_supported"] for s in levels.values() if s["null"]])
        ),
        "coverage_of_true_effects": float(np.mean([s["coverage"] for s in effects])),
        "coverage_of_all_truths": float(np.mean([s["coverage"] for s in designed.values()])),
        "share_true_effects_supported": float(np.mean([s["share_supported"] for s in effects])),
        "share_supported_by_case": {n: s["share_supported"] for n, s in designed.items()},
        "lagged_what_if_coverage": designed["lagged_effect_cumulative"]["what_if_coverage"],
        "mmm_roi_recovery_error_mean": mmm["roi_relative_error_mean"],
        "mmm_roi_recovery_error_max": mmm["roi_relative_error_max"],
        "mmm_plan_moves_toward_best_marginal_roi": mmm["plan_moves_toward_best_marginal_roi"],
    }
    report["mmm"] = mmm
    report["timing_two_years_three_confounders"] = _timing()
    report["seconds"] = round(time.perf_counter() - started, 1)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2))
    for name, case in report["cases"].items():
        for design, block in case.items():
            s = block["summary"]
            print(
                f"{name:36s} {design:11s} truth {s['truth']:.1f}  mean {s['mean_estimate']:7.3f}  "
                f"coverage {s['coverage']:.0%}  supported {s['share_supported']:.0%}  {s['verdicts']}"
            )
    print(json.dumps(report["headline"], indent=2))
    print(json.dumps(report["timing_two_years_three_confounders"], indent=2))


if __name__ == "__main__":
    main()
