"""LaLonde job-training benchmark of the evidence engine.

Run: ``.venv/bin/python -m tests.benchmarks.bench_evidence_lalonde``. Writes
``.bench/evidence_lalonde.json`` and prints a summary.

Data: the Dehejia-Wahba NSW sample (445 men, 185 treated; randomised) and the CPS-1
comparison group (15,992 men, none treated) as shipped by the ``causaldata`` package.
The target is the effect of the programme on 1978 earnings for the treated (ATT); the
experimental benchmark is the NSW difference in means, computed here from the data.

(a) Experimental sample: the engine should land near the experimental difference.
(b) NSW-treated + CPS controls (observational): the naive difference is badly wrong;
    the engine must diagnose poor overlap and refuse a confident verdict. The headline
    is whether the experimental value lies in the interval estimated on the trimmed
    (common-support) sample.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import causaldata
import pandas as pd

from backend.services.evidence import CausalSettings, RefutationSettings, analyze_effect
from backend.services.evidence.types import CausalResult

OUTPUT = Path(".bench/evidence_lalonde.json")
BASE_CONFOUNDERS = ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"]
# Dehejia & Wahba (1999) added unemployment indicators and squares to the propensity model.
DW_CONFOUNDERS = [*BASE_CONFOUNDERS, "u74", "u75", "age2", "educ2"]
SETTINGS = CausalSettings(refutation=RefutationSettings(num_simulations=20), bootstrap_simulations=200)


def _load(name: str) -> pd.DataFrame:
    path = Path(causaldata.__file__).parent / name / f"{name}.dta"
    frame = pd.read_stata(path).drop(columns="data_id").astype("float64")
    return frame.assign(
        u74=(frame["re74"] == 0).astype("float64"),
        u75=(frame["re75"] == 0).astype("float64"),
        age2=frame["age"] ** 2,
        educ2=frame["educ"] ** 2,
    )


def _row(label: str, result: CausalResult, seconds: float, experimental: float) -> dict[str, Any]:
    trimmed = result.overlap.trimmed_estimate if result.overlap else None
    return {
        "label": label,
        "method": result.estimate.method,
        "estimate": result.estimate.value,
        "ci": [result.estimate.ci_low, result.estimate.ci_high],
        "covers_experimental": result.estimate.ci_low <= experimental <= result.estimate.ci_high,
        "other_estimates": {e.method: [e.value, e.ci_low, e.ci_high] for e in result.other_estimates},
        "overlap_adequate": result.overlap.adequate if result.overlap else None,
        "trimmed_estimate": [trimmed.value, trimmed.ci_low, trimmed.ci_high, trimmed.n] if trimmed else None,
        "trimmed_covers_experimental": (trimmed.ci_low <= experimental <= trimmed.ci_high)
        if trimmed
        else None,
        "verdict": result.verdict,
        "reasons": result.reasons,
        "seconds": round(seconds, 1),
        "result": result.model_dump(mode="json"),
    }


def _run(label: str, frame: pd.DataFrame, experimental: float, **kwargs: Any) -> dict[str, Any]:
    started = time.perf_counter()
    result = analyze_effect(
        frame, treatment="treat", outcome="re78", target_units="att", settings=SETTINGS, **kwargs
    )
    return _row(label, result, time.perf_counter() - started, experimental)


def main() -> None:
    nsw, cps = _load("nsw_mixtape"), _load("cps_mixtape")
    treated = nsw[nsw["treat"] == 1]
    experimental = float(treated["re78"].mean() - nsw.loc[nsw["treat"] == 0, "re78"].mean())
    observational = pd.concat([treated, cps], ignore_index=True)
    naive = float(treated["re78"].mean() - cps["re78"].mean())

    weighted = {"method": "propensity_weighting"}
    runs: list[tuple[str, pd.DataFrame, dict[str, Any]]] = [
        ("(a) NSW experiment, unadjusted, declared randomised", nsw, {"randomized": True}),
        ("(a) NSW experiment, linear adjustment", nsw, {"confounders": BASE_CONFOUNDERS}),
        ("(a) NSW experiment, propensity weighting", nsw, {"confounders": BASE_CONFOUNDERS, **weighted}),
        ("(b) NSW + CPS, no confounders", observational, {}),
        ("(b) NSW + CPS, linear adjustment", observational, {"confounders": BASE_CONFOUNDERS}),
        ("(b) NSW + CPS, propensity weighting", observational, {"confounders": BASE_CONFOUNDERS, **weighted}),
        (
            "(b) NSW + CPS, propensity weighting, DW covariates",
            observational,
            {"confounders": DW_CONFOUNDERS, **weighted},
        ),
    ]
    rows = [_run(label, frame, experimental, **options) for label, frame, options in runs]
    report = {
        "experimental_difference_in_means": experimental,
        "observational_naive_difference": naive,
        "rows_nsw": len(nsw),
        "treated_nsw": int(nsw["treat"].sum()),
        "rows_observational": len(observational),
        "settings": {
            "refuter_simulations": SETTINGS.refutation.num_simulations,
            "bootstrap_simulations": SETTINGS.bootstrap_simulations,
            "trim_bounds": [SETTINGS.trim_threshold, 1 - SETTINGS.trim_threshold],
        },
        "runs": rows,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2))

    print(f"Experimental difference in means (NSW, n={len(nsw)}): {experimental:,.0f}")
    print(f"Naive observational difference (NSW treated vs CPS, n={len(observational)}): {naive:,.0f}\n")
    for row in rows:
        low, high = row["ci"]
        print(
            f"{row['label']}\n  {row['method']}: {row['estimate']:,.0f} [{low:,.0f}, {high:,.0f}]  "
            f"verdict={row['verdict']}  covers {experimental:,.0f}: {row['covers_experimental']}  "
            f"({row['seconds']} s)"
        )
        for method, (value, lo, hi) in row["other_estimates"].items():
            print(f"    cross-check {method}: {value:,.0f} [{lo:,.0f}, {hi:,.0f}]")
        if row["trimmed_estimate"]:
            value, lo, hi, n = row["trimmed_estimate"]
            print(
                f"    trimmed to common support (n={n}): {value:,.0f} [{lo:,.0f}, {hi:,.0f}]  "
                f"covers {experimental:,.0f}: {row['trimmed_covers_experimental']}"
            )
        if row["overlap_adequate"] is False:
            print(f"    overlap: {row['result']['overlap']['detail']}")
    print(f"\nWritten to {OUTPUT}")


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
