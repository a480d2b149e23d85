"""Evidence service: read the tenant's metrics, run the engine in a worker process, keep the graph.

The flow follows the architecture: reads first (the catalog says which metrics exist and
how each aggregates; ``business_metrics`` gives the observations in ``[start, end)``),
then the pure computation in the app's process pool (``compute.py``: plain, picklable
data in and out) — then the write of one ``evidence_graph`` edge per
analysis. Analyses beyond the size rules below (or asked for with ``async``) run as
``evidence.analyze`` background jobs (``backend.services.workload`` decides).

Buckets are the tenant's calendar: timestamps are converted to the tenant's time zone
before they are bucketed, as in the metrics rollups. Every observation of a metric counts,
whatever its dimensions (the same as an unfiltered rollup).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import EvidenceEdge
from backend.services.errors import NotFound, ValidationFailed
from backend.services.evidence import (
    predict_what_if,
    repository,
)
from backend.services.evidence.compute import (
    AnalysisInputs,
    AnalysisOutput,
    DriversInputs,
    DriversOutput,
    GrangerInputs,
    compute_analysis,
    compute_drivers,
    compute_granger,
)
from backend.services.evidence.table import Aggregation, MetricSeries, lag_column
from backend.services.evidence.types import (
    AnalysisSpec,
    CausalResult,
    DriversSpec,
    EdgeBaseline,
    EdgeDetails,
    GrangerResult,
    GrangerSpec,
    TableReport,
    WhatIfResult,
)
from backend.services.metrics.points import localize
from backend.services.queue import JobKind
from backend.services.tenant.service import tenant_zone
from backend.services.workload import SYSTEM, Queued, Requester, SizeRule, queue_reason, run_or_queue
from backend.utils.calendar import holiday_country
from backend.utils.compute import ComputePool
from backend.utils.prometheus import EVIDENCE_ANALYSES

ANALYSIS_QUEUE = "evidence"
ANALYSIS_JOB = JobKind("evidence.analyze", AnalysisSpec, queue=ANALYSIS_QUEUE, max_attempts=2)

# Catalog aggregation -> the engine's bucket rule. A "count" metric counts its observations,
# so each one is summed as 1. min/max have no engine rule (see ``_bucket_rules``).
_BUCKET_RULES: dict[str, Aggregation] = {"sum": "sum", "avg": "mean", "last": "last", "count": "sum"}

# Reading more than this many observations for one request is refused (memory of the worker).
MAX_POINTS = 500_000
# Synchronous work limit: observations of the largest metric x refutation simulations.
# Measured on 2 shared cores (linear regression, default refuters, methods compared): 2,000
# daily rows 2.5 s, 20,000 rows 29 s (10 confounders) — so 5,000 rows x 20 simulations.
SYNC_MAX_WORK = 100_000
# Synchronous graph limit: rows x (adjustment columns + 2) x refutation simulations. The refuters
# and the sensitivity analysis (one benchmark per confounder) cost grows with the columns too:
# 1,000 units x 25 covariates x 20 simulations took 4.6 s (continuous treatment) and 11 s (binary,
# with the weighting bootstrap) on 2 shared cores, so about 400,000 is a few seconds in a request.
SYNC_MAX_GRAPH_WORK = 400_000
# A metric analysis also adjusts for about this many calendar columns (day of week, season, holiday, trend).
CALENDAR_COLUMNS = 11
# Double ML re-fits gradient boosting in every refuter draw: 17 s for 365 daily rows and 43 s
# for 2,000 with the default 20 simulations (measured as above), so it always runs as a job.
BACKGROUND_METHODS: frozenset[str] = frozenset({"double_ml"})


class _Method(Protocol):
    @property
    def method(self) -> str: ...


class _MethodRequest(Protocol):
    @property
    def spec(self) -> _Method: ...


S = TypeVar("S", bound=_MethodRequest)


def flexible_method_rule(feature: str, measured: str = "") -> SizeRule[S]:
    """Methods that re-fit a flexible model in every refuter draw always run as a job."""
    return SizeRule(
        feature,
        "flexible-model methods",
        0,
        lambda size: int(size.spec.method in BACKGROUND_METHODS),
        why=f"double ML re-fits gradient boosting in every refuter draw {measured}".rstrip(),
        describe=lambda size, _: f"method {size.spec.method} re-fits a flexible model in every refuter draw",
    )


# Default driver candidates: the tenant's catalog, up to this many metrics.
MAX_DEFAULT_CANDIDATES = 100

# --------------------------------------------------------------------------- reading inputs


def _window(
    start: datetime | None, end: datetime | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Naive bounds are read in the tenant's zone, as everywhere in the metrics API."""
    start_ts = localize(start, zone) if start else None
    end_ts = localize(end, zone) if end else None
    if start_ts and end_ts and end_ts <= start_ts:
        raise ValidationFailed("end must be after start", context={"start": str(start), "end": str(end)})
    return start_ts, end_ts


def _bucket_rules(catalog: Mapping[str, str], required: Sequence[str]) -> dict[str, Aggregation]:
    """The engine's bucket rule for each metric; 422 naming unknown metrics or unusable aggregations."""
    unknown = [name for name in required if name not in catalog]
    if unknown:
        raise ValidationFailed(
            f"Unknown metrics: {', '.join(unknown)}",
            code="unknown_metrics",
            context={"unknown": unknown},
        )
    unsupported = {name: catalog[name] for name in required if catalog[name] not in _BUCKET_RULES}
    if unsupported:
        raise ValidationFailed(
            "Evidence analysis buckets metrics by sum, avg, last or count; declare another aggregation "
            "for these with PUT /api/v1/metrics/{name}/definition",
            code="unsupported_aggregation",
            context={"metrics": unsupported},
        )
    return {name: _BUCKET_RULES[catalog[name]] for name in required}


async def _read(
    session: AsyncSession,
    names: Sequence[str],
    catalog: Mapping[str, str],
    *,
    start: datetime | None,
    end: datetime | None,
    zone: str,
) -> dict[str, MetricSeries]:
    counts = await repository.count_points(session, names, start=start, end=end)
    _check_points(counts)
    series = await repository.read_series(session, names, start=start, end=end, zone=zone)
    # A "count" metric is the number of its observations per bucket: each one counts as 1.
    return {
        name: [(ts, 1.0) for ts, _ in points] if catalog.get(name) == "count" else points
        for name, points in series.items()
    }


def _check_points(counts: Mapping[str, int]) -> None:
    total = sum(counts.values())
    if total > MAX_POINTS:
        raise ValidationFailed(
            f"The window holds {total} observations; at most {MAX_POINTS} are analysed at once. "
            "Narrow it with start and end.",
            code="too_many_observations",
            context={"observations": total, "limit": MAX_POINTS},
        )


@dataclass(frozen=True)
class PreparedAnalysis:
    """An analysis whose metrics were checked against the catalog; bounds are time-zone aware."""

    spec: AnalysisSpec
    metrics: list[str]
    aggregation: dict[str, Aggregation]
    catalog: dict[str, str]
    unobserved_nodes: list[str]
    zone: str


def _distinct_roles(spec: AnalysisSpec) -> None:
    roles = [spec.outcome, spec.treatment, *spec.confounders, *spec.negative_controls]
    repeated = sorted({name for name in roles if roles.count(name) > 1})
    if repeated:
        raise ValidationFailed(
            "Outcome, treatment, confounders and negative controls must be different metrics.",
            context={"repeated": repeated},
        )
    if spec.edges and spec.confounders:
        raise ValidationFailed(
            "Give confounders or a graph, not both: with a graph, its nodes are the adjustment candidates.",
            context={"confounders": spec.confounders},
        )


def _holiday_country(requested: str | None, zone: ZoneInfo) -> str:
    """The request's country; by default the country of the tenant's time zone; ``none`` for no holidays.

    Resolved once, so a queued job analyses with the same calendar as the request described.
    """
    return holiday_country(requested, zone.key)


async def prepare_analysis(session: AsyncSession, spec: AnalysisSpec) -> PreparedAnalysis:
    """Check the metrics (422 naming unknown ones) and resolve the window; no observations read yet."""
    _distinct_roles(spec)
    zone = await tenant_zone(session)
    start, end = _window(spec.start, spec.end, zone)
    spec = spec.model_copy(
        update={"start": start, "end": end, "holiday_country": _holiday_country(spec.holiday_country, zone)}
    )
    required = [spec.outcome, spec.treatment, *spec.confounders, *spec.negative_controls]
    lag_names = {lag_column(spec.treatment, lag) for lag in spec.lags}
    # Graph nodes that are neither metrics nor lag columns are unobserved variables.
    nodes = sorted({node for edge in spec.edges for node in edge} - set(required) - lag_names)
    catalog = await repository.metric_aggregations(session, [*required, *nodes])
    metrics = [*required, *(node for node in nodes if node in catalog)]
    return PreparedAnalysis(
        spec=spec,
        metrics=metrics,
        aggregation=_bucket_rules(catalog, metrics),
        catalog=catalog,
        unobserved_nodes=[node for node in nodes if node not in catalog],
        zone=zone.key,
    )


async def read_analysis_inputs(session: AsyncSession, prepared: PreparedAnalysis) -> AnalysisInputs:
    spec = prepared.spec
    series = await _read(
        session,
        prepared.metrics,
        prepared.catalog,
        start=spec.start,
        end=spec.end,
        zone=prepared.zone,
    )
    return AnalysisInputs(spec=spec, series=series, aggregation=prepared.aggregation)


@dataclass(frozen=True)
class AnalysisSize:
    """What the synchronous limits of an analysis count: the spec and its largest metric's observations."""

    spec: AnalysisSpec
    rows: int

    @property
    def columns(self) -> int:
        return _adjustment_columns(self.spec)


ANALYSIS_RULES: tuple[SizeRule[AnalysisSize], ...] = (
    flexible_method_rule("evidence analysis", "(17 s for 365 daily rows)"),
    SizeRule(
        "evidence analysis",
        "observations x refutation simulations",
        SYNC_MAX_WORK,
        lambda size: size.rows * size.spec.refutation_simulations,
        why="2,000 daily rows took 2.5 s, 20,000 rows 29 s on 2 shared cores",
        describe=lambda size, _: (
            f"{size.rows} observations x {size.spec.refutation_simulations} refutation simulations "
            f"exceeds the synchronous limit of {SYNC_MAX_WORK}"
        ),
    ),
    SizeRule(
        "evidence analysis",
        "observations x (adjustment columns + 2) x refutation simulations",
        SYNC_MAX_GRAPH_WORK,
        lambda size: size.rows * (size.columns + 2) * size.spec.refutation_simulations,
        why="refuters and the sensitivity analysis grow with the adjustment columns too",
        describe=lambda size, work: (
            f"{size.rows} observations x ({size.columns} adjustment columns + 2) x "
            f"{size.spec.refutation_simulations} refutation simulations = {work:,} exceeds the synchronous "
            f"limit of {SYNC_MAX_GRAPH_WORK:,}"
        ),
    ),
)


def background_reason(spec: AnalysisSpec, counts: Mapping[str, int]) -> str | None:
    """Why this analysis runs as a background job, or None to run it in the request."""
    size = AnalysisSize(spec, max(counts.values(), default=0))
    return queue_reason(ANALYSIS_RULES, size)


def _adjustment_columns(spec: AnalysisSpec) -> int:
    """Columns the estimator adjusts for: confounders (or graph nodes), lags, negative controls, calendar."""
    nodes = {node for edge in spec.edges for node in edge} - {spec.treatment, spec.outcome}
    calendar = CALENDAR_COLUMNS if spec.design == "time_series" else 0
    return len(spec.confounders) + len(nodes) + len(spec.lags) + len(spec.negative_controls) + calendar


# --------------------------------------------------------------------------- analyses and the graph


async def store_analysis(
    session: AsyncSession, prepared: PreparedAnalysis, output: AnalysisOutput
) -> EvidenceEdge:
    result, zone = output.result, ZoneInfo(prepared.zone)
    edge = EvidenceEdge(
        cause=result.treatment,
        effect=result.outcome,
        effect_size=result.estimate.value,
        ci_lower=result.estimate.ci_low,
        ci_upper=result.estimate.ci_high,
        method=result.estimate.method,
        verdict=result.verdict,
        data_start=localize(output.table.start, zone) if output.table.start else None,
        data_end=localize(output.window_end, zone) if output.window_end else None,
    )
    details = EdgeDetails(
        result=result,
        table=output.table,
        granger=output.granger,
        granger_unavailable=output.granger_unavailable,
        baseline=EdgeBaseline(outcome_mean=output.outcome_mean, treatment_mean=output.treatment_mean),
        inputs=prepared.spec.model_dump(mode="json"),
        unobserved_nodes=prepared.unobserved_nodes,
        timezone=prepared.zone,
    )
    await repository.add_edge(session, edge, details)
    EVIDENCE_ANALYSES.labels(verdict=result.verdict).inc()
    return edge


async def analyze(
    session: AsyncSession,
    pool: ComputePool,
    spec: AnalysisSpec,
    requester: Requester = SYSTEM,
    *,
    allow_background: bool = True,
) -> EvidenceEdge | Queued:
    """Run and store an analysis, or queue it (asked for, or when it is beyond a size rule)."""
    prepared = await prepare_analysis(session, spec)
    counts = await repository.count_points(
        session, prepared.metrics, start=prepared.spec.start, end=prepared.spec.end
    )
    _check_points(counts)
    reason = requester.queue_reason(background_reason(prepared.spec, counts))
    if reason is not None and not allow_background:
        raise ValidationFailed(
            f"This analysis is too large to run here ({reason}); run it with POST "
            "/api/v1/evidence/analyze (async) and use the stored edge's id.",
            code="needs_background_job",
            context={"reason": reason},
        )
    return await run_or_queue(
        session,
        requester,
        reason=reason,
        run=lambda: _analyze_now(session, pool, prepared),
        kind=ANALYSIS_JOB,
        payload=lambda: prepared.spec,
    )


async def _analyze_now(session: AsyncSession, pool: ComputePool, prepared: PreparedAnalysis) -> EvidenceEdge:
    inputs = await read_analysis_inputs(session, prepared)
    output = await pool.run(compute_analysis, inputs)
    return await store_analysis(session, prepared, output)


async def get_edge(session: AsyncSession, edge_id: uuid.UUID) -> EvidenceEdge:
    edge = await repository.get_edge(session, edge_id)
    if edge is None:
        raise NotFound("Evidence edge not found", context={"edge_id": str(edge_id)})
    return edge


# Listing has no rule of its own: the repository's filtered page is the answer.
list_edges = repository.list_edges


@dataclass(frozen=True)
class EvidenceGraph:
    edges: list[EvidenceEdge]
    units: dict[str, str | None]


async def graph(session: AsyncSession, *, verdict: str | None) -> EvidenceGraph:
    """The newest edge per (cause, effect) pair, and the unit of every metric they connect."""
    edges = await repository.newest_edges(session, verdict=verdict)
    names = sorted({e.cause for e in edges} | {e.effect for e in edges})
    return EvidenceGraph(edges=edges, units=await repository.metric_units(session, names))


def edge_details(edge: EvidenceEdge) -> EdgeDetails:
    return repository.edge_details(edge)


def edge_result(edge: EvidenceEdge) -> CausalResult:
    return repository.edge_details(edge).result


# --------------------------------------------------------------------------- what-if, drivers, Granger


@dataclass(frozen=True)
class WhatIf:
    edge: EvidenceEdge
    prediction: WhatIfResult
    baseline_source: Literal["request", "window_average"]


async def what_if(
    session: AsyncSession,
    pool: ComputePool,
    *,
    edge_id: uuid.UUID | None,
    spec: AnalysisSpec | None,
    treatment_change: float,
    baseline_outcome: float | None,
    baseline_treatment: float | None,
    requested_by: uuid.UUID | None = None,
    sustained: bool = True,
) -> WhatIf:
    """The outcome change predicted for ``treatment_change`` from a stored edge or a fresh analysis.

    A fresh analysis is stored as an edge like any other. Without baselines in the request,
    the averages per bucket over the analysed window are used, so the prediction reads as
    "a typical bucket would go from … to …".
    """
    if edge_id is not None:
        edge = await get_edge(session, edge_id)
    else:
        assert spec is not None
        analysed = await analyze(session, pool, spec, Requester(requested_by), allow_background=False)
        assert isinstance(analysed, EvidenceEdge)  # allow_background=False never queues
        edge = analysed
    stored = repository.edge_details(edge).baseline
    source: Literal["request", "window_average"] = (
        "request" if baseline_outcome is not None or baseline_treatment is not None else "window_average"
    )
    if source == "window_average":
        baseline_outcome, baseline_treatment = stored.outcome_mean, stored.treatment_mean
    prediction = predict_what_if(
        edge_result(edge),
        treatment_change=treatment_change,
        baseline_outcome=baseline_outcome,
        baseline_treatment=baseline_treatment,
        sustained=sustained,
    )
    return WhatIf(edge=edge, prediction=prediction, baseline_source=source)


async def drivers(session: AsyncSession, pool: ComputePool, spec: DriversSpec) -> DriversOutput:
    """Screen candidate drivers of an outcome and estimate the top discoveries (nothing stored)."""
    zone = await tenant_zone(session)
    start, end = _window(spec.start, spec.end, zone)
    given = spec.candidates is not None
    if spec.candidates is not None:
        candidates = [c for c in dict.fromkeys(spec.candidates) if c != spec.outcome]
    else:
        excluded = {spec.outcome, *spec.confounders}
        candidates = [
            n
            for n in await repository.metric_names(session, limit=MAX_DEFAULT_CANDIDATES + len(excluded))
            if n not in excluded
        ][:MAX_DEFAULT_CANDIDATES]
    if not candidates:
        raise ValidationFailed("There are no candidate drivers to screen.", context={"outcome": spec.outcome})
    names = list(dict.fromkeys([spec.outcome, *candidates, *spec.confounders]))
    catalog = await repository.metric_aggregations(session, names)
    aggregation = _bucket_rules(catalog, names)
    series = await _read(session, names, catalog, start=start, end=end, zone=zone.key)
    inputs = DriversInputs(
        spec=spec, candidates=candidates, candidates_given=given, series=series, aggregation=aggregation
    )
    return await pool.run(compute_drivers, inputs)


async def granger(
    session: AsyncSession, pool: ComputePool, spec: GrangerSpec
) -> tuple[GrangerResult, TableReport]:
    if spec.cause == spec.effect:
        raise ValidationFailed("Cause and effect must be different metrics.", context={"metric": spec.cause})
    zone = await tenant_zone(session)
    start, end = _window(spec.start, spec.end, zone)
    names = [spec.effect, spec.cause]
    catalog = await repository.metric_aggregations(session, names)
    aggregation = _bucket_rules(catalog, names)
    series = await _read(session, names, catalog, start=start, end=end, zone=zone.key)
    return await pool.run(compute_granger, GrangerInputs(spec=spec, series=series, aggregation=aggregation))
