"""Marketing-mix models of the tenant's metrics: read, fit in the compute pool, store, read back.

Reads go through the evidence service's metric read path (catalog check, tenant-calendar
buckets); the fit (:mod:`mmm`) runs in the app's process pool; one ``marketing_mix_models``
row is written per model. A two-year daily model of up to four channels answers in a few
seconds (``tests/benchmarks/bench_evidence_timeseries.py`` measures it), and
``MAX_BUCKETS`` x ``MAX_CHANNELS`` bounds the work of one request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import MarketingMixModel
from backend.services.errors import NotFound, ValidationFailed
from backend.services.evidence import repository
from backend.services.evidence.mmm import MAX_BUCKETS, MmmFit, MmmQuestion, fit_mmm
from backend.services.evidence.service import _bucket_rules, _holiday_country, _read, _window
from backend.services.evidence.table import Aggregation, MetricSeries, build_analysis_table
from backend.services.metrics.points import localize
from backend.services.tenant.service import tenant_zone
from backend.utils.compute import ComputePool
from backend.utils.database import session_tenant


class MmmSpec(BaseModel):
    """One marketing-mix model, as plain JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: str
    channels: list[str]
    frequency: str = "D"
    start: datetime | None = None
    end: datetime | None = None
    holiday_country: str | None = None
    bootstrap_draws: int = 30
    confidence_level: float = 0.95


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
    grid = pd.date_range(outcome.index.min(), outcome.index.max(), freq=spec.frequency)
    frame = pd.DataFrame(
        {name: columns[name].reindex(grid).fillna(0.0) for name in spec.channels}, index=grid
    )
    frame[spec.outcome] = outcome.reindex(grid)
    if len(frame) > MAX_BUCKETS:
        raise ValidationFailed(
            f"The window holds {len(frame)} buckets; a marketing-mix model fits at most {MAX_BUCKETS}. "
            "Narrow it with start and end, or use weekly buckets.",
            code="too_many_buckets",
            details={"buckets": len(frame), "limit": MAX_BUCKETS},
        )
    return frame


def compute_mmm(inputs: MmmInputs) -> MmmFit:
    """Pure: bucket the series and fit the model (runs in a worker process)."""
    spec = inputs.spec
    country = None if spec.holiday_country in (None, "none") else spec.holiday_country
    question = MmmQuestion(
        outcome=spec.outcome,
        channels=spec.channels,
        frequency=spec.frequency,
        holiday_country=country,
        bootstrap_draws=spec.bootstrap_draws,
        confidence_level=spec.confidence_level,
    )
    return fit_mmm(_bucketed(inputs), question)


def _distinct(spec: MmmSpec) -> None:
    names = [spec.outcome, *spec.channels]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValidationFailed(
            "The outcome and the spend channels must be different metrics.",
            code="repeated_metrics",
            details={"repeated": repeated},
        )


async def fit_model(session: AsyncSession, pool: ComputePool, spec: MmmSpec) -> MarketingMixModel:
    """Check the metrics, read them, fit in the pool and store the model (nothing stored on a 4xx)."""
    _distinct(spec)
    zone = await tenant_zone(session)
    start, end = _window(spec.start, spec.end, zone)
    spec = spec.model_copy(
        update={"start": start, "end": end, "holiday_country": _holiday_country(spec.holiday_country, zone)}
    )
    names = [spec.outcome, *spec.channels]
    catalog = await repository.metric_aggregations(session, names)
    aggregation = _bucket_rules(catalog, names)
    series = await _read(session, names, catalog, start=start, end=end, zone=zone.key)
    fitted = await pool.run(compute_mmm, MmmInputs(spec=spec, series=series, aggregation=aggregation))
    return await _store(session, spec, fitted, zone)


async def _store(session: AsyncSession, spec: MmmSpec, fitted: MmmFit, zone: ZoneInfo) -> MarketingMixModel:
    buckets = fitted.decomposition.buckets
    model = MarketingMixModel(
        tenant_id=session_tenant(session),
        outcome=spec.outcome,
        channels=list(spec.channels),
        frequency=spec.frequency,
        result=fitted.model_dump(mode="json"),
        inputs=spec.model_dump(mode="json"),
        data_start=localize(datetime.fromisoformat(buckets[0]), zone) if buckets else None,
        data_end=localize(datetime.fromisoformat(buckets[-1]), zone) if buckets else None,
    )
    session.add(model)
    await session.flush()
    await session.refresh(model)
    return model


async def get_model(session: AsyncSession, model_id: uuid.UUID) -> MarketingMixModel:
    """The tenant's model (RLS and the tenant fence); another tenant's is not found."""
    model = await session.scalar(
        select(MarketingMixModel).where(
            MarketingMixModel.tenant_id == session_tenant(session), MarketingMixModel.id == model_id
        )
    )
    if model is None:
        raise NotFound("Marketing-mix model not found", details={"model_id": str(model_id)})
    return model


async def latest_model(session: AsyncSession) -> MarketingMixModel | None:
    """The tenant's newest model, or None (the coach plans a budget from it)."""
    return await session.scalar(
        select(MarketingMixModel)
        .where(MarketingMixModel.tenant_id == session_tenant(session))
        .order_by(MarketingMixModel.created_at.desc())
        .limit(1)
    )


def model_fit(model: MarketingMixModel) -> MmmFit:
    return MmmFit.model_validate(model.result)
