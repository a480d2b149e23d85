"""Forecaster rules: a metric's history in, a backtested forecast out, stored and evaluable.

Reads happen first (a rollup of the metric per period in the tenant's time zone), the
statistics run in the CPU executor (``backend.utils.compute``, in the API or a job worker), and
the write comes last. Small requests answer at once; long histories, long horizons (the size
rules below), an explicit ``async`` and batches become jobs (``backend.services.workload``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Forecast
from backend.services.calendar_events import service as calendar_events
from backend.services.errors import NotFound, ValidationFailed
from backend.services.forecaster import repository
from backend.services.forecaster.calendar import CalendarInput, MarkedEvent
from backend.services.forecaster.engine import ForecastPoint, ForecastResult, forecast_series
from backend.services.forecaster.evaluate import Evaluation, evaluate_forecast
from backend.services.forecaster.series import RegularSeries, build_series, infer_frequency
from backend.services.forecaster.types import (
    SYNC_MAX_HORIZON,
    SYNC_MAX_PERIODS,
    BacktestScore,
    BatchFailure,
    BatchForecast,
    BatchResult,
    ForecastDocument,
    ForecastInputs,
    ForecastPeriod,
    ForecastScores,
    Frequency,
    StoredEvaluation,
)
from backend.services.jobs.service import ChildJob, ChildRule
from backend.services.metrics import reader as metrics_reader
from backend.services.metrics import service as metrics_service
from backend.services.metrics.buckets import parse_bucket
from backend.services.metrics.reader import MetricQuery
from backend.services.queue import JobKind
from backend.services.tenant.service import tenant_zone
from backend.services.workload import SYSTEM, Queued, Requester, SizeRule, queue, queue_reason, run_or_queue
from backend.utils.calendar import NO_HOLIDAYS, PERIODS, holiday_country, public_holidays
from backend.utils.compute import ComputePool
from backend.utils.prometheus import FORECASTS
from backend.utils.repository import PageWindow, get_or_404

FORECAST_QUEUE = "forecaster"
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


class ForecastSpec(BaseModel):
    """One forecast as asked for; also the payload of its job."""

    model_config = ConfigDict(frozen=True)

    metric: str
    horizon: int
    frequency: Frequency | None = None
    levels: tuple[int, ...] = (80, 95)
    model: str = "auto"
    dimensions: dict[str, str] = Field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    # Whose public holidays a daily forecast takes; None: the country of the tenant's time zone.
    holiday_country: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ForecastSpec:
        return cls.model_validate(payload)


class ForecastBatch(BaseModel):
    """The payload of a batch job: the same options for every listed metric."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: ForecastSpec
    metrics: list[str]

    @model_validator(mode="before")
    @classmethod
    def _flat_payload(cls, data: Any) -> Any:
        # Batches queued before this model existed carry the spec's fields next to ``metrics``.
        if isinstance(data, dict) and "template" not in data and "metrics" in data:
            spec = {key: value for key, value in data.items() if key != "metrics"}
            return {"template": spec, "metrics": data["metrics"]}
        return data

    def specs(self) -> list[ForecastSpec]:
        return [self.template.model_copy(update={"metric": metric}) for metric in self.metrics]


FORECAST_JOB = JobKind("forecaster.run", ForecastSpec, queue=FORECAST_QUEUE, max_attempts=2)


def summarize_batch(children: Sequence[ChildJob]) -> dict[str, Any]:
    """A batch's result from its finished child jobs (one per metric): forecasts made, failures and why."""
    forecasts: list[BatchForecast] = []
    failed: list[BatchFailure] = []
    for child in children:
        try:
            metric = FORECAST_JOB.load(child.payload).metric
        except ValidationError:  # queued by another release: still reported, by its job id
            metric = f"job {child.id}"
        if child.status == "succeeded" and child.result is not None:
            forecasts.append(BatchForecast.model_validate(child.result))
            continue
        error = child.error or {}
        code, message = str(error.get("code", "job_failed")), str(error.get("message", "the forecast failed"))
        failed.append(BatchFailure(metric=metric, code=code, message=message))
    result = BatchResult(
        series=len(children),
        forecasts=sorted(forecasts, key=lambda made: made.metric),
        failed=sorted(failed, key=lambda failure: failure.metric),
    )
    return result.model_dump(mode="json")


BATCH_JOB = JobKind(
    "forecaster.batch",
    ForecastBatch,
    queue=FORECAST_QUEUE,
    max_attempts=1,
    children=ChildRule("series", summarize_batch),
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
    # The definition's non_negative: True cuts forecasts at zero, False never, None infers it
    # from the history (never below zero → cut).
    non_negative: bool | None = None
    # Daily data: the holiday country and the marked events, regressors of the calendar model.
    calendar: CalendarInput | None = None


# Beyond these a forecast runs as a background job (an auto-selected monthly forecast of a
# few years takes 1-2 s on one core; hundreds of daily periods with long horizons take more).
SIZE_RULES: tuple[SizeRule[History], ...] = (
    SizeRule(
        "forecast",
        "periods of horizon",
        SYNC_MAX_HORIZON,
        lambda history: history.spec.horizon,
        why="each backtest origin forecasts the whole horizon for every candidate model",
        describe=lambda history, size: (
            f"a horizon of {size} periods is beyond the synchronous limit of {SYNC_MAX_HORIZON}"
        ),
    ),
    SizeRule(
        "forecast",
        "periods of history",
        SYNC_MAX_PERIODS,
        lambda history: len(history.points),
        why="model fits grow with the history: two years of daily periods take a few seconds",
        describe=lambda history, size: (
            f"{size} periods of history are beyond the synchronous limit of {SYNC_MAX_PERIODS}"
        ),
    ),
)


async def load_history(session: AsyncSession, spec: ForecastSpec) -> History:
    definition = await metrics_reader.definition(session, spec.metric)
    if definition is None:
        raise NotFound(f"Metric {spec.metric!r} not found", context={"metric": spec.metric})
    zone = await tenant_zone(session)
    filters = MetricQuery(metric=spec.metric, start=spec.start, end=spec.end, dimensions=spec.dimensions)
    raw = await metrics_reader.observations(session, filters, limit=_INFER_SAMPLE, offset=0)
    stamps = [row.ts.astimezone(zone).replace(tzinfo=None) for row in raw.rows]
    frequency = spec.frequency or infer_frequency(stamps)
    _check_frequency_fits(spec.metric, frequency, stamps)
    rollup = await metrics_reader.series(
        session, filters, bucket=parse_bucket(frequency), aggregation=definition.aggregation, zone=zone.key
    )
    points = [
        (row.bucket.astimezone(zone).replace(tzinfo=None), float(row.value))
        for row in rollup.rows
        if row.value is not None
    ]
    if not points:
        raise ValidationFailed(
            f"metric {spec.metric!r} has no data in the requested window", context={"metric": spec.metric}
        )
    as_of = (spec.end or datetime.now(UTC)).astimezone(zone).replace(tzinfo=None)
    calendar = await _calendar(session, spec, zone.key) if frequency == "day" else None
    return History(
        spec, zone.key, frequency, definition.aggregation, points, as_of, definition.non_negative, calendar
    )


async def _calendar(session: AsyncSession, spec: ForecastSpec, zone: str) -> CalendarInput:
    """The holiday country (the request's, else the time zone's: the shared rule) and the marked events."""
    country = holiday_country(spec.holiday_country, zone)
    if country != NO_HOLIDAYS:
        try:
            public_holidays(country, range(2000, 2001))
        except ValueError as exc:
            raise ValidationFailed(
                f"No public-holiday calendar for country '{country}'; give an ISO 3166 code such as US, GB, "
                "DE, or none.",
                code="unknown_holiday_country",
                context={"holiday_country": country},
            ) from exc
    events = await calendar_events.events_for_metric(session, spec.metric)
    return CalendarInput(
        country=None if country == NO_HOLIDAYS else country,
        events=tuple(MarkedEvent(event.name, event.start_date, event.end_date) for event in events),
    )


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
            context={"metric": metric, "frequency": frequency, "data_frequency": native},
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
        series_for(history),
        history.spec.horizon,
        model=history.spec.model,
        levels=history.spec.levels,
        non_negative=history.non_negative,
        calendar=history.calendar,
    )


def _local(ts: datetime | None, zone: ZoneInfo) -> datetime | None:
    """The engine's wall-clock period start, as an instant in the tenant's zone."""
    return ts.replace(tzinfo=zone) if ts is not None else None


def result_document(result: ForecastResult, zone: str) -> ForecastDocument:
    """The stored form of an engine result, period starts as instants in the tenant's zone."""
    tz = ZoneInfo(zone)
    return ForecastDocument(
        model=result.model,
        spec=result.spec,
        horizon=result.horizon,
        season_length=result.season_length,
        levels=list(result.levels),
        points=[
            ForecastPeriod(
                step=p.step,
                ts=_local(p.ts, tz),
                mean=p.mean,
                lower={str(k): v for k, v in p.lower.items()},
                upper={str(k): v for k, v in p.upper.items()},
            )
            for p in result.points
        ],
        backtest=[
            BacktestScore(
                model=c.model, spec=c.spec, mase=c.mase, smape=c.smape, origins=c.origins, error=c.error
            )
            for c in result.backtest
        ],
        backtest_origins=result.backtest_origins,
        improvement_over_seasonal_naive=result.improvement_over_seasonal_naive,
        mase_scale=result.mase_scale,
        n_observations=result.n_observations,
        interval_method=result.interval_method,
        backtest_coverage={str(k): v for k, v in result.backtest_coverage.items()},
        warnings=list(result.warnings),
        calendar=result.calendar,
    )


async def store(session: AsyncSession, history: History, result: ForecastResult) -> Forecast:
    document = result_document(result, history.zone)
    chosen = document.candidate(result.model)
    tz = ZoneInfo(history.zone)
    spec = history.spec
    forecast = Forecast(
        metric=spec.metric,
        frequency=history.frequency,
        horizon=spec.horizon,
        model=result.model,
        status="completed",
        data_start=result.history_start.replace(tzinfo=tz) if result.history_start else None,
        data_end=result.history_end.replace(tzinfo=tz) if result.history_end else None,
    )
    country = history.calendar.country if history.calendar else None
    inputs = ForecastInputs.model_validate(
        {**dict(spec), "frequency": history.frequency, "timezone": history.zone, "holiday_country": country}
    )
    scores = ForecastScores(
        mase=chosen.mase if chosen else None,
        smape=chosen.smape if chosen else None,
        improvement_over_seasonal_naive=result.improvement_over_seasonal_naive,
    )
    await repository.add(session, forecast, inputs=inputs, result=document, scores=scores)
    FORECASTS.labels(outcome="success").inc()
    return forecast


async def create_forecast(session: AsyncSession, pool: ComputePool, history: History) -> Forecast:
    forecast, _ = await forecast_now(session, pool, history)
    return forecast


async def forecast_now(
    session: AsyncSession, pool: ComputePool, history: History
) -> tuple[Forecast, ForecastResult]:
    """Compute in the pool and store, counting failures; the engine's result comes back too."""
    try:
        result = await pool.run(compute, history)
    except ValidationFailed:
        FORECASTS.labels(outcome="failure").inc()
        raise
    return await store(session, history, result), result


async def forecast(
    session: AsyncSession,
    pool: ComputePool,
    spec: ForecastSpec,
    requester: Requester = SYSTEM,
) -> Forecast | Queued:
    """Forecast now, or queue it when asked to or when the history or horizon is beyond a size rule."""
    history = await load_history(session, spec)
    return await run_or_queue(
        session,
        requester,
        reason=queue_reason(SIZE_RULES, history),
        run=lambda: create_forecast(session, pool, history),
        kind=FORECAST_JOB,
        payload=lambda: spec,
    )


async def queue_batch(
    session: AsyncSession,
    metrics: Sequence[str] | None,
    template: ForecastSpec,
    *,
    requested_by: uuid.UUID | None,
) -> Queued:
    """One job forecasting several metrics (all of the tenant's when ``metrics`` is empty); it fans
    out into one child job per metric when a worker runs it."""
    names = list(metrics or [])
    if not names:
        entries, _ = await metrics_service.list_catalog(session, PageWindow(1000))
        names = [entry.name for entry in entries if entry.points]
    if not names:
        raise ValidationFailed("the tenant has no metrics with data to forecast")
    for name in names:
        if await metrics_reader.definition(session, name) is None:
            raise NotFound(f"Metric {name!r} not found", context={"metric": name})
    batch = ForecastBatch(template=template, metrics=names)
    return await queue(session, BATCH_JOB, batch, reason="batch", requested_by=requested_by)


async def get_forecast(session: AsyncSession, forecast_id: uuid.UUID) -> Forecast:
    return await get_or_404(session, Forecast, forecast_id, "Forecast not found")


def forecast_inputs(forecast: Forecast) -> ForecastInputs:
    return repository.inputs_of(forecast)


def forecast_document(forecast: Forecast) -> ForecastDocument:
    return repository.result_of(forecast)


def forecast_scores(forecast: Forecast) -> ForecastScores:
    return repository.scores_of(forecast)


async def list_forecasts(
    session: AsyncSession, window: PageWindow, *, metric: str | None
) -> tuple[list[Forecast], int]:
    return await repository.list_forecasts(session, window, metric=metric)


async def evaluate(session: AsyncSession, forecast_id: uuid.UUID) -> tuple[Forecast, Evaluation]:
    """Score a stored forecast against the actuals that have arrived since; keeps the latest score."""
    forecast = await get_forecast(session, forecast_id)
    inputs, document = repository.inputs_of(forecast), repository.result_of(forecast)
    zone = ZoneInfo(inputs.timezone)
    definition = await metrics_reader.definition(session, forecast.metric)
    if definition is None:
        raise NotFound(f"Metric {forecast.metric!r} no longer exists", context={"metric": forecast.metric})
    filters = MetricQuery(metric=forecast.metric, start=forecast.data_end, dimensions=inputs.dimensions)
    rollup = await metrics_reader.series(
        session,
        filters,
        bucket=parse_bucket(forecast.frequency),
        aggregation=definition.aggregation,
        zone=zone.key,
    )
    actuals = [(row.bucket.astimezone(zone).replace(tzinfo=None), float(row.value)) for row in rollup.rows]
    evaluation = evaluate_forecast(
        [_engine_point(p) for p in document.points],
        actuals,
        mase_scale=document.mase_scale,
        frequency=inputs.frequency,
    )
    scores = repository.scores_of(forecast)
    scores.evaluation = StoredEvaluation(
        evaluated_at=datetime.now(UTC),
        matched=evaluation.matched,
        pending=evaluation.pending,
        mae=evaluation.mae,
        smape=evaluation.smape,
        mase=evaluation.mase,
        coverage={str(k): v for k, v in evaluation.coverage.items()},
    )
    repository.set_scores(forecast, scores)
    await session.flush()
    return forecast, evaluation


def _engine_point(point: ForecastPeriod) -> ForecastPoint:
    """A stored point as the engine's: wall-clock period start (the engine compares periods)."""
    return ForecastPoint(
        step=point.step,
        ts=point.ts.replace(tzinfo=None) if point.ts is not None else None,
        mean=point.mean,
        lower={int(k): v for k, v in point.lower.items()},
        upper={int(k): v for k, v in point.upper.items()},
    )
