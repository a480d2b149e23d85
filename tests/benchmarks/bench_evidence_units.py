"""Known-truth benchmark of unit-level studies (customers, stores, an A/B test's visitors).

Run: ``.venv/bin/python -m tests.benchmarks.bench_evidence_units [--replications N]``.
Writes ``.bench/evidence_units.json`` and prints a summary. Studies are simulated
(``tests/services/evidence/unit_synthetic.py``, seeds fixed) and analysed as the API does
(``compute_unit_study``: 20 refuter simulations; the cross-check estimators are off to keep
the run short — they do not enter the cross-section verdict):

* ``confounded_25_covariates`` — 1,000 units, 25 confounders each driving treatment and outcome,
  effect 1.0; also estimated with only the first 20 (the former cap) for the error comparison;
* ``binary_confounded`` — a binary treatment chosen on 10 confounders, effect 1.0;
* ``ab_test`` — a randomised A/B test with a lift of 3.0 and categorical device covariates;
* nulls — ``null_confounded`` (effect 0, 10 confounders) and ``ab_null`` (lift 0);
* ``segments`` — effects 1.0 / 2.0 / 1.0 in three segments plus a 12-unit segment (must be reported
  too small), and ``segments_equal`` (1.5 everywhere: heterogeneity must not be claimed).

Reported: coverage of the true ATE by the 95% interval, the share rated ``supported`` (on nulls:
false supported, goal 0), mean absolute error, segment-effect coverage, the heterogeneity test's
detection rate (and false-alarm rate on equal effects).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backend.services.evidence.types import UnitStudySpec
from backend.services.evidence.units import (
    UnitStudyInputs,
    compute_overall,
    compute_unit_study,
    frame_rows,
    study_table,
)
from tests.services.evidence.unit_synthetic import ab_test, ab_test_spec, confounded_units

OUTPUT = Path(".bench/evidence_units.json")
SIMULATIONS = {"refutation_simulations": 20, "compare_methods": False}


def _covariates(k: int) -> list[str]:
    return [f"x{i + 1}" for i in range(k)]


def _spec(k: int, **overrides: Any) -> UnitStudySpec:
    fields = {"unit_id": "unit", "treatment": "treatment", "outcome": "outcome", "covariates": _covariates(k)}
    return UnitStudySpec(**{**fields, **SIMULATIONS, **overrides})


AB_SPEC = ab_test_spec(**SIMULATIONS)
SEGMENT_TRUTH = {"north": 1.0, "south": 2.0, "east": 1.0}


@dataclass(frozen=True)
class Case:
    name: str
    truth: float
    null: bool
    make: Callable[[int], pd.DataFrame]
    spec: UnitStudySpec
    segment_truth: dict[str, float] | None = None


CASES = [
    Case(
        "confounded_25_covariates",
        1.0,
        False,
        lambda seed: confounded_units(n=1000, covariates=25, effect=1.0, seed=seed, strength=0.3),
        _spec(25),
    ),
    Case(
        "binary_confounded",
        1.0,
        False,
        lambda seed: confounded_units(n=1000, covariates=10, effect=1.0, seed=seed, binary=True),
        _spec(10),
    ),
    Case("ab_test", 3.0, False, lambda seed: ab_test(n=800, lift=3.0, seed=seed), AB_SPEC),
    Case(
        "null_confounded",
        0.0,
        True,
        lambda seed: confounded_units(n=600, covariates=10, effect=0.0, seed=seed),
        _spec(10),
    ),
    Case("ab_null", 0.0, True, lambda seed: ab_test(n=800, lift=0.0, seed=seed), AB_SPEC),
    Case(
        "segments",
        4.0 / 3.0,
        False,
        lambda seed: confounded_units(n=900, covariates=4, effect=SEGMENT_TRUTH, seed=seed, tiny_segment=12),
        _spec(4, segment="segment"),
        segment_truth=SEGMENT_TRUTH,
    ),
    Case(
        "segments_equal",
        1.5,
        False,
        lambda seed: confounded_units(n=900, covariates=4, effect=1.5, seed=seed),
        _spec(4, segment="segment"),
        segment_truth={"north": 1.5, "south": 1.5, "east": 1.5},
    ),
]


def _run(case: Case, seed: int) -> dict[str, Any]:
    frame = case.make(seed)
    result = compute_unit_study(UnitStudyInputs(case.spec, frame_rows(frame)))
    estimate = result.result.estimate
    # The segment cases' overall truth is the units' average effect (the tiny segment belongs to "north").
    truth = case.truth
    if case.segment_truth is not None:
        truth = float(
            np.mean([case.segment_truth.get(s, case.segment_truth["north"]) for s in frame["segment"]])
        )
    row: dict[str, Any] = {
        "seed": seed,
        "estimate": estimate.value,
        "ci": [estimate.ci_low, estimate.ci_high],
        "covers": estimate.ci_low <= truth <= estimate.ci_high,
        "abs_error": abs(estimate.value - truth),
        "verdict": result.result.verdict,
    }
    if case.segment_truth is not None and result.segments is not None:
        effects = {e.segment: e for e in result.segments.effects}
        row["segment_covers"] = {
            name: bool(
                effects[name].ci_low is not None
                and effects[name].ci_low <= value <= (effects[name].ci_high or 0)
            )
            for name, value in case.segment_truth.items()
        }
        row["tiny_reported_too_small"] = effects["tiny"].status == "too_small" if "tiny" in effects else None
        heterogeneity = result.segments.heterogeneity
        row["heterogeneous"] = bool(heterogeneity and heterogeneity.heterogeneous)
    if case.name == "confounded_25_covariates":
        capped = _spec(20)
        inputs = UnitStudyInputs(capped, frame_rows(frame))
        row["abs_error_first_20_only"] = abs(
            compute_overall(capped, study_table(inputs)).estimate.value - truth
        )
    return row


def _summary(case: Case, rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "truth": case.truth,
        "null": case.null,
        "replications": len(rows),
        "coverage": float(np.mean([r["covers"] for r in rows])),
        "share_supported": float(np.mean([r["verdict"] == "supported" for r in rows])),
        "mean_abs_error": float(np.mean([r["abs_error"] for r in rows])),
        "mean_estimate": float(np.mean([r["estimate"] for r in rows])),
    }
    if "abs_error_first_20_only" in rows[0]:
        summary["mean_abs_error_first_20_only"] = float(np.mean([r["abs_error_first_20_only"] for r in rows]))
    if "segment_covers" in rows[0]:
        summary["segment_coverage"] = float(np.mean([v for r in rows for v in r["segment_covers"].values()]))
        summary["share_heterogeneous"] = float(np.mean([r["heterogeneous"] for r in rows]))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"replications": args.replications, "cases": {}}
    for case in CASES:
        rows = [_run(case, 3000 + i) for i in range(args.replications)]
        report["cases"][case.name] = {"summary": _summary(case, rows), "runs": rows}
    summaries = {name: c["summary"] for name, c in report["cases"].items()}
    effects = [s for s in summaries.values() if not s["null"]]
    report["headline"] = {
        "false_supported_rate_on_nulls": float(
            np.mean([s["share_supported"] for s in summaries.values() if s["null"]])
        ),
        "coverage_of_true_ate": float(np.mean([s["coverage"] for s in effects])),
        "coverage_of_all_truths": float(np.mean([s["coverage"] for s in summaries.values()])),
        "share_true_effects_supported": float(np.mean([s["share_supported"] for s in effects])),
        "mean_abs_error_25_covariates": summaries["confounded_25_covariates"]["mean_abs_error"],
        "mean_abs_error_first_20_only": summaries["confounded_25_covariates"]["mean_abs_error_first_20_only"],
        "segment_effect_coverage": float(
            np.mean([summaries[n]["segment_coverage"] for n in ("segments", "segments_equal")])
        ),
        "heterogeneity_detected": summaries["segments"]["share_heterogeneous"],
        "heterogeneity_false_alarm": summaries["segments_equal"]["share_heterogeneous"],
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2))
    for name, summary in summaries.items():
        print(
            f"{name:26s} truth {summary['truth']:.2f}  mean {summary['mean_estimate']:7.3f}  "
            f"coverage {summary['coverage']:.0%}  supported {summary['share_supported']:.0%}"
        )
    print(json.dumps(report["headline"], indent=2))
    print(f"{report['seconds']} s")


if __name__ == "__main__":
    main()
