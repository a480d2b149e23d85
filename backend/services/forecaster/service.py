"""Forecaster rules: a metric's history in, a backtested forecast out, stored and evaluable.

Reads happen first (a rollup of the metric per period in the tenant's time zone), the
statistics run in the compute pool (or a worker's thread for background jobs), and the
write comes last. Small requests answer at once; long histories, long horizons, an
explicit ``background`` and batches become jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.jobs import enqueue
from backend.models import Forecast
from backend.services.errors import NotFound, ValidationFailed
from backend.services.forecaster import repository
from backend.services.forecaster.engine import ForecastResult, forecast_series
from backend.services.forecaster.evaluate import Evaluation, evaluate_forecast
from backend.services.forecaster.series import Frequency, RegularSeries, build_series, infer_frequency
from backend.services.metrics import repository as metrics_repository
from backend.services.metrics.buckets import parse_bucket
from backend.services.metrics.repository import PointFilter
from backend.services.tenant.service import tenant_zone
from backend.utils.calendar import PERIODS
from backend.utils.compute import ComputePool
from backend.utils.metrics import FORECASTS

FORECAST_JOB = "forecaster.run"
BATCH_JOB = "forecaster.batch"
FORECAST_QUEUE = "forecaster"
# Beyond these a forecast runs as a background job (an auto-selected monthly forecast of a
# few years takes 1-2 s on one core; hundreds of daily periods with long horizons take more).
SYNC_MAX_HORIZON = 60
SYNC_MAX_PERIODS = 730
# How aggregated periods with no data are filled: flows are zero, levels carry forward.
_GAP_RULES = {
    "sum": "zero",
    "count": "zero",
    "last": "ffill",
    "avg": "interpolate",
    "min": "interpolate",
    "max": "interpolate",
}
_INFER_SAMPLE = 500


@dataclass(frozen=True)
class ForecastSpec:
    metric: str
    horizon: int
    frequency: Frequency | None = None
    levels: tuple[int, ...] = (80, 95)
    model: str = "auto"
    dimensions: dict[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None

    def as_payload(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "horizon": self.horizon,
            "frequency": self.frequency,
            "levels": list(self.levels),
            "model": self.model,
            "dimensions": self.dimensions,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ForecastSpec:
        return cls(
            metric=payload["metric"],
            horizon=int(payload["horizon"]),
            frequency=payload.get("frequency"),
            levels=tuple(payload.get("levels") or (80, 95)),
            model=payload.get("model", "auto"),
            dimensions=dict(payload.get("dimensions") or {}),
            start=datetime.fromisoformat(payload["start"]) if payload.get("start") else None,
            end=datetime.fromisoformat(payload["end"]) if payload.get("end") else None,
        )


@dataclass(frozen=True)
class History:
    """A metric's per-period values, as local wall-clock times (the engine's calendar)."""

    spec: ForecastSpec
    zone: str
    frequency: Frequency
    aggregation: str
    points: list[tuple[datetime, float]]
    as_of: datetime

    @property
    def oversized(self) -> str | None:
        if self.spec.horizon > SYNC_MAX_HORIZON:
            return (
                f"a horizon of {self.spec.horizon} periods is beyond "
                f"the synchronous limit of {SYNC_MAX_HORIZON}"
            )
        if len(self.points) > SYNC_MAX_PERIODS:
            return (
                f"{len(self.points)} periods of history are beyond "
                f"the synchronous limit of {SYNC_MAX_PERIODS}"
            )
        return None


async def load_history(session: AsyncSession, spec: ForecastSpec) -> History:
    definition = await metrics_repository.get_definition(session, spec.metric)
    if definition is None:
        raise NotFound(f"Metric {spec.metric!r} not found", details={"metric": spec.metric})
    zone = await tenant_zone(session)
    filters = PointFilter(metric=spec.metric, start=spec.start, end=spec.end, dimensions=spec.dimensions)
    raw, _ = await metrics_repository.raw_points(session, filters, limit=_INFER_SAMPLE, offset=0)
    stamps = [row.ts.astimezone(zone).replace(tzinfo=None) for row in raw]
    frequency = spec.frequency or infer_frequency(stamps)
    _check_frequency_fits(spec.metric, frequency, stamps)
    rows = await metrics_repository.rollup(
        session,
        filters,
        bucket=parse_bucket(frequency),
        aggregation=definition.aggregation,
        zone=zone.key,
        group_by=None,
    )
    points = [
        (row.bucket.astimezone(zone).replace(tzinfo=None), float(row.value))
        for row in rows
        if row.value is not None
    ]
    if not points:
        raise ValidationFailed(
            f"metric {spec.metric!r} has no data in the requested window", details={"metric": spec.metric}
        )
    as_of = (spec.end or datetime.now(UTC)).astimezone(zone).replace(tzinfo=None)
    return History(spec, zone.key, frequency, definition.aggregation, points, as_of)


_FREQUENCY_ORDER: tuple[Frequency, ...] = PERIODS


def _check_frequency_fits(metric: str, frequency: Frequency, stamps: list[datetime]) -> None:
    """Refuse a frequency finer than the data's own: the periods in between would be invented."""
    try:
        native = infer_frequency(stamps)
    except ValidationFailed:
        return  # too few points to tell; the history floor of the engine answers instead
    if _FREQUENCY_ORDER.index(frequency) < _FREQUENCY_ORDER.index(native):
        raise ValidationFailed(
            f"Metric {metric!r} has one point per {native}; a forecast by {frequency} would fill the "
            f"{frequency}s in between with made-up values. Use frequency {native!r} or coarser.",
            details={"metric": metric, "frequency": frequency, "data_frequency": native},
        )


def series_for(history: History) -> RegularSeries:
    """The regular series the engine forecasts (gap rule from the metric's aggregation)."""
    return build_series(
        history.points,
        frequency=history.frequency,
        gap_rule=_GAP_RULES.get(history.aggregation, "interpolate"),  # type: ignore[arg-type]
        aggregate="sum",
        as_of=history.as_of,
    )


def compute(history: History) -> ForecastResult:
    """Pure and CPU-bound: build the regular series, select by backtest, forecast with intervals."""
    return forecast_series(
        series_for(history), history.spec.horizon, model=history.spec.model, levels=history.spec.levels
    )


def _local(ts: datetime | None, zone: ZoneInfo) -> str | None:
    """The engine's wall-clock period start, as an instant in the tenant's zone."""
    return ts.replace(tzinfo=zone).isoformat() if ts is not None else None


def result_document(result: ForecastResult, zone: str) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    return {
        "model": result.model,
        "spec": result.spec,
        "horizon": result.horizon,
        "season_length": result.season_length,
        "levels": list(result.levels),
        "points": [
            {
                "step": p.step,
                "ts": _local(p.ts, tz),
                "mean": p.mean,
                "lower": {str(k): v for k, v in p.lower.items()},
                "upper": {str(k): v for k, v in p.upper.items()},
            }
            for p in result.points
        ],
        "backtest": [
            {
                "model": c.model,
                "spec": c.spec,
                "mase": c.mase,
                "smape": c.smape,
                "origins": c.origins,
                "error": c.error,
            }
            for c in result.backtest
        ],
        "backtest_origins": result.backtest_origins,
        "improvement_over_seasonal_naive": result.improvement_over_seasonal_naive,
        "mase_scale": result.mase_scale,
        "n_observations": result.n_observations,
        "interval_method": result.interval_method,
        "backtest_coverage": {str(k): v for k, v in result.backtest_coverage.items()},
        "warnings": list(result.warnings),
    }


async def store(session: AsyncSession, history: History, result: ForecastResult) -> Forecast:
    document = result_document(result, history.zone)
    chosen = next((c for c in document["backtest"] if c["model"] == result.model), None)
    tz = ZoneInfo(history.zone)
    forecast = Forecast(
        metric=history.spec.metric,
        frequency=history.frequency,
        horizon=history.spec.horizon,
        model=result.model,
        status="completed",
        inputs={**history.spec.as_payload(), "frequency": history.frequency, "timezone": history.zone},
        result=document,
        scores={
            "mase": chosen["mase"] if chosen else None,
            "smape": chosen["smape"] if chosen else None,
            "improvement_over_seasonal_naive": result.improvement_over_seasonal_naive,
        },
        data_start=result.history_start.replace(tzinfo=tz) if result.history_start else None,
        data_end=result.history_end.replace(tzinfo=tz) if result.history_end else None,
    )
    await repository.add(session, forecast)
    FORECASTS.labels(outcome="success").inc()
    return forecast


async def create_forecast(session: AsyncSession, pool: ComputePool, history: History) -> Forecast:
    try:
        result = await pool.run(compute, history)
    except ValidationFailed:
        FORECASTS.labels(outcome="failure").inc()
        raise
    return await store(session, history, result)


async def queue_forecast(
    session: AsyncSession, spec: ForecastSpec, *, tenant_id: uuid.UUID, requested_by: uuid.UUID | None
) -> uuid.UUID:
    return await enqueue(session, tenant_id, FORECAST_JOB, spec.as_payload(), created_by=requested_by)


async def queue_batch(
    session: AsyncSession,
    metrics: Sequence[str] | None,
    template: ForecastSpec,
    *,
    tenant_id: uuid.UUID,
    requested_by: uuid.UUID | None,
) -> uuid.UUID:
    """One job forecasting several metrics (all of the tenant's when ``metrics`` is empty)."""
    names = list(metrics or [])
    if not names:
        entries, _ = await metrics_repository.catalog(session, limit=1000, offset=0)
        names = [entry.name for entry in entries if entry.points]
    if not names:
        raise ValidationFailed("the tenant has no metrics with data to forecast")
    for name in names:
        if await metrics_repository.get_definition(session, name) is None:
            raise NotFound(f"Metric {name!r} not found", details={"metric": name})
    payload = {**template.as_payload(), "metrics": names}
    return await enqueue(session, tenant_id, BATCH_JOB, payload, created_by=requested_by)


async def get_forecast(session: AsyncSession, forecast_id: uuid.UUID) -> Forecast:
    forecast = await repository.get(session, forecast_id)
    if forecast is None:
        raise NotFound("Forecast not found")
    return forecast


async def list_forecasts(
    session: AsyncSession, *, metric: str | None, limit: int, offset: int
) -> tuple[list[Forecast], int]:
    return await repository.list_forecasts(session, metric=metric, limit=limit, offset=offset)


async def evaluate(session: AsyncSession, forecast_id: uuid.UUID) -> tuple[Forecast, Evaluation]:
    """Score a stored forecast against the actuals that have arrived since; keeps the latest score."""
    forecast = await get_forecast(session, forecast_id)
    zone = ZoneInfo(forecast.inputs.get("timezone", "UTC"))
    spec = ForecastSpec.from_payload(forecast.inputs)
    definition = await metrics_repository.get_definition(session, forecast.metric)
    if definition is None:
        raise NotFound(f"Metric {forecast.metric!r} no longer exists", details={"metric": forecast.metric})
    filters = PointFilter(
        metric=forecast.metric, start=forecast.data_end, end=None, dimensions=spec.dimensions
    )
    rows = await metrics_repository.rollup(
        session,
        filters,
        bucket=parse_bucket(forecast.frequency),
        aggregation=definition.aggregation,
        zone=zone.key,
        group_by=None,
    )
    actuals = [(row.bucket.astimezone(zone).replace(tzinfo=None), float(row.value)) for row in rows]
    # Stored timestamps carry the zone; the engine compares wall-clock periods.
    points = [
        {**p, "ts": datetime.fromisoformat(p["ts"]).replace(tzinfo=None)} for p in forecast.result["points"]
    ]
    evaluation = evaluate_forecast(
        points,
        actuals,
        mase_scale=forecast.result.get("mase_scale"),
        frequency=forecast.frequency,  # type: ignore[arg-type]
    )
    forecast.scores = {
        **forecast.scores,
        "evaluation": {
            "evaluated_at": datetime.now(UTC).isoformat(),
            "matched": evaluation.matched,
            "pending": evaluation.pending,
            "mae": evaluation.mae,
            "smape": evaluation.smape,
            "mase": evaluation.mase,
            "coverage": {str(k): v for k, v in evaluation.coverage.items()},
        },
    }
    await session.flush()
    return forecast, evaluation
