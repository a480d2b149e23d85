"""Marketing-mix models of the tenant's metrics: read, fit in the compute pool, store, read back.

Reads go through the evidence service's metric read path (catalog check, tenant-calendar
buckets); the fit (:mod:`mmm`) runs in the app's process pool; one ``marketing_mix_models``
row is written per model. Every data check (metrics in the catalog, usable spends, history long
enough) runs in the request; a fit larger than ``SYNC_MAX_MMM_WORK`` (or one asked for with
``async``) is then queued as an ``evidence.mmm_fit`` job whose result names the stored model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import MarketingMixModel
from backend.services.errors import NotFound, ValidationFailed
from backend.services.evidence import repository
from backend.services.evidence.mmm import (
    MAX_BUCKETS,
    POINT_FIT_STARTS,
    FitProgress,
    MmmQuestion,
    check_frame,
    fit_mmm,
)
from backend.services.evidence.service import _bucket_rules, _holiday_country, _read, _window
from backend.services.evidence.table import Aggregation, MetricSeries, build_analysis_table
from backend.services.evidence.types import MmmFit, MmmSpec
from backend.services.metrics.points import localize
from backend.services.queue import JobKind
from backend.services.tenant.service import tenant_zone
from backend.services.workload import SYSTEM, Queued, Requester, SizeRule, queue_reason, run_or_queue
from backend.utils.compute import ComputePool
from backend.utils.frequency import pandas_code
from backend.utils.repository import tenant_filter, tenant_select

MMM_FIT_QUEUE = "evidence"
# Synchronous limit on buckets x parameters² x (bootstrap draws + point-fit starts), parameters =
# 3 per channel + calendar columns + 1: each least-squares iteration costs about buckets x
# parameters² (finite-difference Jacobian), the point fit runs from POINT_FIT_STARTS starts and each
# bootstrap draw refits once. Measured with time.perf_counter around compute_mmm on 2 shared cores
# (14 calendar columns): two years daily, 3 channels, 30 draws (14.3 million) 0.65-1.2 s; 10
# channels, no draws (5.9 million) 2.4 s; 1,500 buckets, 3 channels, 30 draws (29 million) 0.9 s;
# the worst case the limits allow (1,500 buckets, 10 channels, 100 draws: 316 million) 84 s.
# Poorly identified data converges slower (two years, 3 channels, 30 draws took 11 s on one
# synthetic set), so the rule bounds the work, not the time.
SYNC_MAX_MMM_WORK = 16_000_000


MMM_FIT_JOB = JobKind("evidence.mmm_fit", MmmSpec, queue=MMM_FIT_QUEUE, max_attempts=2)


@dataclass(frozen=True)
class MmmInputs:
    spec: MmmSpec
    series: dict[str, MetricSeries]
    aggregation: dict[str, Aggregation]


def _bucketed(inputs: MmmInputs) -> pd.DataFrame:
    """One regular grid of buckets; a bucket without spend records is zero spend."""
    spec = inputs.spec
    columns = {
        name: build_analysis_table(
            {name: points}, frequency=spec.frequency, aggregation={name: inputs.aggregation[name]}
        ).frame[name]
        for name, points in inputs.series.items()
    }
    outcome = columns[spec.outcome]
    grid = pd.date_range(outcome.index.min(), outcome.index.max(), freq=pandas_code(spec.frequency))
    frame = pd.DataFrame(
        {name: columns[name].reindex(grid).fillna(0.0) for name in spec.channels}, index=grid
    )
    frame[spec.outcome] = outcome.reindex(grid)
    if len(frame) > MAX_BUCKETS:
        raise ValidationFailed(
            f"The window holds {len(frame)} buckets; a marketing-mix model fits at most {MAX_BUCKETS}. "
            "Narrow it with start and end, or use weekly buckets.",
            code="too_many_buckets",
            context={"buckets": len(frame), "limit": MAX_BUCKETS},
        )
    return frame


def _question(spec: MmmSpec) -> MmmQuestion:
    country = None if spec.holiday_country in (None, "none") else spec.holiday_country
    return MmmQuestion(
        outcome=spec.outcome,
        channels=spec.channels,
        frequency=spec.frequency,
        holiday_country=country,
        bootstrap_draws=spec.bootstrap_draws,
        confidence_level=spec.confidence_level,
    )


def compute_mmm(inputs: MmmInputs, progress: FitProgress | None = None) -> MmmFit:
    """Pure: bucket the series and fit the model (runs in a worker process or a job's thread)."""
    return fit_mmm(_bucketed(inputs), _question(inputs.spec), progress)


@dataclass(frozen=True)
class MmmSize:
    """What one fit will do: its buckets and the calendar columns it adjusts for."""

    buckets: int
    calendar_columns: int


def check_mmm(inputs: MmmInputs) -> MmmSize:
    """Pure: every data check of the fit, without fitting (cheap; runs before anything is queued)."""
    frame = _bucketed(inputs)
    return MmmSize(buckets=len(frame), calendar_columns=len(check_frame(frame, _question(inputs.spec))))


def mmm_parameters(spec: MmmSpec, size: MmmSize) -> int:
    """Fitted parameters: decay, saturation and effect per channel, the calendar and the intercept."""
    return 3 * len(spec.channels) + size.calendar_columns + 1


def mmm_work(spec: MmmSpec, size: MmmSize) -> int:
    """Buckets x parameters² x (bootstrap draws + point-fit starts): the cost of one fit."""
    return size.buckets * mmm_parameters(spec, size) ** 2 * (spec.bootstrap_draws + POINT_FIT_STARTS)


@dataclass(frozen=True)
class MmmRequest:
    """What the synchronous limit of a fit counts: the spec and the size of its checked data."""

    spec: MmmSpec
    size: MmmSize


def _describe_work(request: MmmRequest, work: int) -> str:
    spec, size = request.spec, request.size
    return (
        f"{size.buckets} buckets x {mmm_parameters(spec, size)}² parameters ({len(spec.channels)} channels, "
        f"{size.calendar_columns} calendar columns) x ({spec.bootstrap_draws} bootstrap draws + "
        f"{POINT_FIT_STARTS} starts) = {work:,} exceeds the synchronous limit of {SYNC_MAX_MMM_WORK:,}"
    )


MMM_RULES: tuple[SizeRule[MmmRequest], ...] = (
    SizeRule(
        "marketing-mix fit",
        "buckets x parameters² x (draws + starts)",
        SYNC_MAX_MMM_WORK,
        lambda request: mmm_work(request.spec, request.size),
        why="the cost model above, measured with compute_mmm on 2 shared cores",
        describe=_describe_work,
    ),
)


def background_reason(spec: MmmSpec, size: MmmSize) -> str | None:
    """Why this fit runs as a job, or None to run it in the request."""
    return queue_reason(MMM_RULES, MmmRequest(spec, size))


def _distinct(spec: MmmSpec) -> None:
    names = [spec.outcome, *spec.channels]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValidationFailed(
            "The outcome and the spend channels must be different metrics.",
            code="repeated_metrics",
            context={"repeated": repeated},
        )


async def resolve_spec(session: AsyncSession, spec: MmmSpec) -> MmmSpec:
    """The window and holiday country fixed once, so a queued fit reads what the request described."""
    _distinct(spec)
    zone = await tenant_zone(session)
    start, end = _window(spec.start, spec.end, zone)
    return spec.model_copy(
        update={"start": start, "end": end, "holiday_country": _holiday_country(spec.holiday_country, zone)}
    )


async def read_inputs(session: AsyncSession, spec: MmmSpec) -> MmmInputs:
    """The metrics of a resolved spec (unknown or unbucketable metrics are 422)."""
    zone = await tenant_zone(session)
    names = [spec.outcome, *spec.channels]
    catalog = await repository.metric_aggregations(session, names)
    aggregation = _bucket_rules(catalog, names)
    series = await _read(session, names, catalog, start=spec.start, end=spec.end, zone=zone.key)
    return MmmInputs(spec=spec, series=series, aggregation=aggregation)


async def fit_model(
    session: AsyncSession,
    pool: ComputePool,
    spec: MmmSpec,
    requester: Requester = SYSTEM,
) -> MarketingMixModel | Queued:
    """Check the metrics, read and check them, then fit and store now or queue a job (nothing on a 4xx)."""
    spec = await resolve_spec(session, spec)
    inputs = await read_inputs(session, spec)
    size = await pool.run(check_mmm, inputs)
    return await run_or_queue(
        session,
        requester,
        reason=background_reason(spec, size),
        run=lambda: _fit_now(session, pool, inputs),
        kind=MMM_FIT_JOB,
        payload=lambda: spec,
    )


async def _fit_now(session: AsyncSession, pool: ComputePool, inputs: MmmInputs) -> MarketingMixModel:
    return await store_fit(session, inputs.spec, await pool.run(compute_mmm, inputs))


async def store_fit(session: AsyncSession, spec: MmmSpec, fitted: MmmFit) -> MarketingMixModel:
    return await _store(session, spec, fitted, await tenant_zone(session))


async def _store(session: AsyncSession, spec: MmmSpec, fitted: MmmFit, zone: ZoneInfo) -> MarketingMixModel:
    buckets = fitted.decomposition.buckets
    model = MarketingMixModel(
        outcome=spec.outcome,
        channels=list(spec.channels),
        frequency=spec.frequency,
        data_start=localize(datetime.fromisoformat(buckets[0]), zone) if buckets else None,
        data_end=localize(datetime.fromisoformat(buckets[-1]), zone) if buckets else None,
    )
    return await repository.add_mmm_model(session, model, fit=fitted, spec=spec)


async def get_model(session: AsyncSession, model_id: uuid.UUID) -> MarketingMixModel:
    """The tenant's model (RLS and the tenant fence); another tenant's is not found."""
    model = await session.scalar(
        select(MarketingMixModel).where(
            tenant_filter(session, MarketingMixModel), MarketingMixModel.id == model_id
        )
    )
    if model is None:
        raise NotFound("Marketing-mix model not found", context={"model_id": str(model_id)})
    return model


async def latest_model(session: AsyncSession) -> MarketingMixModel | None:
    """The tenant's newest model, or None (the coach plans a budget from it)."""
    return await session.scalar(
        tenant_select(session, MarketingMixModel).order_by(MarketingMixModel.created_at.desc()).limit(1)
    )


def model_fit(model: MarketingMixModel) -> MmmFit:
    return repository.mmm_fit(model)
