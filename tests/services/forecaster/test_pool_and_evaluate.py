"""Batch forecasts in the CPU executor, and scoring a past forecast against later actuals."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from backend.services.forecaster.batch import ForecastJob, run_job
from backend.services.forecaster.engine import forecast_series, forecast_values
from backend.services.forecaster.evaluate import evaluate_forecast
from backend.services.forecaster.series import build_series
from backend.services.forecaster.types import ForecastPeriod
from backend.utils.compute import ComputePool


def _seasonal(seed: int, n: int = 60) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (200 + 0.8 * t + 25 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 4, n)).tolist()


async def test_executor_batch_matches_in_process_results_in_order() -> None:
    jobs = [
        ForecastJob(horizon=6, values=_seasonal(seed), season_length=12, key=f"s{seed}") for seed in range(4)
    ]
    jobs.append(ForecastJob(horizon=12, values=[1.0, 2.0, 3.0], season_length=12, key="short"))
    pool = ComputePool(max_workers=2)
    try:
        pooled = await asyncio.gather(*(pool.run(run_job, job) for job in jobs))
    finally:
        pool.shutdown()
    local = [run_job(job) for job in jobs]
    assert [o.key for o in pooled] == [job.key for job in jobs]
    for remote, here in zip(pooled[:4], local[:4], strict=True):
        assert remote.result is not None and here.result is not None
        assert remote.result.model == here.result.model and remote.result.spec == here.result.spec
        np.testing.assert_allclose(remote.result.mean, here.result.mean, rtol=1e-9)
        for a, b in zip(remote.result.points, here.result.points, strict=True):
            assert a.lower == pytest.approx(b.lower, rel=1e-9) and a.upper == pytest.approx(b.upper, rel=1e-9)
    # A client error inside a worker comes back as part of the outcome, not as a crash.
    assert pooled[4].result is None and pooled[4].error_code == "validation_failed"
    assert pooled[4].error_details["problems"][0]["needed"] == local[4].error_details["problems"][0]["needed"]


def _stored_forecast():  # type: ignore[no-untyped-def]
    stamps = pd.date_range("2020-01-01", periods=48, freq="MS")
    series = build_series(zip(stamps, _seasonal(5, 48), strict=True))
    return forecast_series(series, 6)


def test_evaluation_scores_the_actuals_that_arrived() -> None:
    result = _stored_forecast()
    actual_values = [
        p.mean + delta for p, delta in zip(result.points[:4], (3.0, -1.0, 0.0, 200.0), strict=True)
    ]
    # Mid-month timestamps still match their month when the frequency is given.
    actuals = [
        (p.ts + pd.Timedelta(days=14), v) for p, v in zip(result.points[:4], actual_values, strict=True)
    ]
    evaluation = evaluate_forecast(result.points, actuals, mase_scale=result.mase_scale, frequency="month")
    assert evaluation.matched == 4 and evaluation.pending == 2 and not evaluation.complete
    errors = np.array([3.0, -1.0, 0.0, 200.0])
    assert evaluation.mae == pytest.approx(np.mean(np.abs(errors)))
    assert evaluation.rmse == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert evaluation.bias == pytest.approx(np.mean(errors))
    assert evaluation.mase == pytest.approx(np.mean(np.abs(errors)) / result.mase_scale)
    # The 200 miss is outside every interval; the small misses are inside the 95% one.
    assert evaluation.coverage[95] == pytest.approx(0.75)
    assert evaluation.points[3].inside == {80: False, 95: False}


def test_evaluation_accepts_stored_json_points_and_waits_for_actuals() -> None:
    result = _stored_forecast()
    stored = [
        ForecastPeriod.model_validate(
            {
                "step": p.step,
                "ts": p.ts.isoformat(),
                "mean": p.mean,
                "lower": {str(k): v for k, v in p.lower.items()},
                "upper": {str(k): v for k, v in p.upper.items()},
            }
        )
        for p in result.points
    ]
    nothing_yet = evaluate_forecast(stored, [], mase_scale=result.mase_scale)
    assert nothing_yet.matched == 0 and nothing_yet.pending == 6 and nothing_yet.mae is None
    exact = evaluate_forecast(stored, [(p.ts, p.mean) for p in result.points])
    assert exact.complete and exact.mae == 0.0 and exact.smape == 0.0 and exact.coverage == {80: 1.0, 95: 1.0}
    assert exact.mase is None  # no scale given


def test_arrays_without_timestamps_cannot_be_evaluated() -> None:
    result = forecast_values(_seasonal(1, 40), 3, 1)
    with pytest.raises(ValueError, match="timestamps"):
        evaluate_forecast(result.points, [])
