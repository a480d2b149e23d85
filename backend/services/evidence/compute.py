"""Evidence computations that run in worker processes: plain, picklable data in and out.

The service reads the inputs in a tenant session, hands them to these functions in the
app's compute pool (or a worker's thread for background jobs), and writes the result.
Nothing here touches the database or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from backend.services.errors import ValidationFailed
from backend.services.evidence import (
    CausalSettings,
    build_analysis_table,
    estimate_effect,
    granger_causality,
    screen_drivers,
)
from backend.services.evidence.causal import causal_settings
from backend.services.evidence.series_analysis import SeriesQuestion, analyze_series
from backend.services.evidence.table import Aggregation, MetricSeries
from backend.services.evidence.timeseries import MIN_SCREENING_OBSERVATIONS
from backend.services.evidence.types import (
    AnalysisSpec,
    CausalResult,
    DriversSpec,
    EffectEstimate,
    GrangerResult,
    GrangerSpec,
    ScreeningResult,
    TableReport,
)
from backend.utils.frequency import pandas_code

# --------------------------------------------------------------------------- specifications


# --------------------------------------------------------------------------- pure compute (worker process)


@dataclass(frozen=True)
class AnalysisInputs:
    spec: AnalysisSpec
    series: dict[str, MetricSeries]
    aggregation: dict[str, Aggregation]


@dataclass(frozen=True)
class AnalysisOutput:
    result: CausalResult
    table: TableReport
    granger: GrangerResult | None
    granger_unavailable: str | None
    outcome_mean: float
    treatment_mean: float
    # Exclusive end of the last aligned bucket, local wall-clock time.
    window_end: datetime | None


def compute_analysis(inputs: AnalysisInputs) -> AnalysisOutput:
    """Build the table, estimate and refute the effect, and (with lags) test Granger precedence.

    The time-series design (``spec.design``) is applied first: see :mod:`series_analysis`.
    With the default graph, the treatment's lag columns are adjusted for as confounders:
    past values of a lever usually drive both its present value (budgets persist) and the
    outcome (carry-over), which is a backdoor path. With a user graph they count only where
    the graph names them.
    """
    spec = inputs.spec
    table = build_analysis_table(
        inputs.series,
        frequency=spec.frequency,
        aggregation=inputs.aggregation,
        treatment=spec.treatment,
        lags=spec.lags,
    )
    question = SeriesQuestion(
        treatment=spec.treatment,
        outcome=spec.outcome,
        confounders=spec.confounders,
        lags=spec.lags,
        edges=spec.edges,
        method=spec.method,
        target_units=spec.target_units,
        randomized=spec.randomized,
        frequency=spec.frequency,
        design=spec.design,
        holiday_country=None if spec.holiday_country in (None, "none") else spec.holiday_country,
        negative_controls=spec.negative_controls,
    )
    result = analyze_series(table.frame, question, causal_settings(spec))
    granger: GrangerResult | None = None
    unavailable: str | None = None
    if spec.lags:
        try:
            granger = granger_causality(
                table.frame, cause=spec.treatment, effect=spec.outcome, max_lag=max(spec.lags)
            )
        except ValidationFailed as exc:  # The causal estimate stands on its own; say why Granger is absent.
            unavailable = f"{exc.message} {exc.context}"
    return AnalysisOutput(
        result=result,
        table=table.report,
        granger=granger,
        granger_unavailable=unavailable,
        outcome_mean=float(table.frame[spec.outcome].mean()),
        treatment_mean=float(table.frame[spec.treatment].mean()),
        window_end=_bucket_end(table.report),
    )


def _bucket_end(report: TableReport) -> datetime | None:
    if report.end is None:
        return None
    end: datetime = (
        pd.Timestamp(report.end) + pd.tseries.frequencies.to_offset(pandas_code(report.frequency))
    ).to_pydatetime()
    return end


@dataclass(frozen=True)
class DriverEstimate:
    """A cheap causal estimate of one screened candidate (no refuters, no verdict)."""

    treatment: str
    adjusted_for: list[str]
    estimate: EffectEstimate | None
    problem: str | None


@dataclass(frozen=True)
class DriversInputs:
    spec: DriversSpec
    candidates: list[str]
    candidates_given: bool
    series: dict[str, MetricSeries]
    aggregation: dict[str, Aggregation]


@dataclass(frozen=True)
class DriversOutput:
    screening: ScreeningResult
    skipped: dict[str, str]
    estimates: list[DriverEstimate] = field(default_factory=list)


def _bucketed(
    series: Mapping[str, MetricSeries],
    aggregation: Mapping[str, Aggregation],
    frequency: str,
    optional: Sequence[str],
) -> pd.DataFrame:
    """Each metric bucketed on its own, joined outer: screening pairs rows per candidate.

    An ``optional`` metric with no observations is left out; any other is the engine's 422.
    """
    columns = []
    for name, points in series.items():
        if not points and name in optional:
            continue
        table = build_analysis_table({name: points}, frequency=frequency, aggregation=aggregation)
        columns.append(table.frame[name])
    return pd.concat(columns, axis=1, join="outer").sort_index()


def compute_drivers(inputs: DriversInputs) -> DriversOutput:
    """Screen candidates against the outcome (BH-corrected), then estimate the top discoveries."""
    spec = inputs.spec
    # Default candidates are the whole catalog: leave out the ones too thin to screen instead of
    # failing the request; listed candidates that are too thin are an error (the engine's 422).
    optional = [] if inputs.candidates_given else inputs.candidates
    frame = _bucketed(inputs.series, inputs.aggregation, spec.frequency, optional)
    candidates = list(inputs.candidates)
    skipped: dict[str, str] = {}
    if optional:
        data = frame.diff().iloc[1:] if spec.difference else frame
        for name in list(candidates):
            pair = data[[spec.outcome, name]].dropna() if name in data.columns else None
            if pair is None or len(pair) < MIN_SCREENING_OBSERVATIONS or pair[name].nunique() < 2:
                shared = 0 if pair is None else len(pair)
                skipped[name] = (
                    f"{shared} buckets shared with the outcome, or no variation; "
                    f"screening needs {MIN_SCREENING_OBSERVATIONS} varying ones"
                )
                candidates.remove(name)
        if not candidates:
            raise ValidationFailed(
                "No metric has enough observations alongside the outcome to screen.",
                context={"skipped": skipped},
            )
    screening = screen_drivers(
        frame,
        outcome=spec.outcome,
        candidates=candidates,
        method=spec.method,
        false_discovery_rate=spec.false_discovery_rate,
        difference=spec.difference,
    )
    settings = CausalSettings(confidence_level=spec.confidence_level)
    estimates: list[DriverEstimate] = []
    for candidate in [c for c in screening.candidates if c.discovered][: spec.top]:
        adjusted = [c for c in spec.confounders if c != candidate.name]
        try:
            names = [spec.outcome, candidate.name, *adjusted]
            table = build_analysis_table(
                {n: inputs.series[n] for n in names}, frequency=spec.frequency, aggregation=inputs.aggregation
            )
            estimate = estimate_effect(
                table.frame,
                treatment=candidate.name,
                outcome=spec.outcome,
                confounders=adjusted,
                settings=settings,
            )
            estimates.append(DriverEstimate(candidate.name, adjusted, estimate, None))
        except ValidationFailed as exc:
            estimates.append(DriverEstimate(candidate.name, adjusted, None, f"{exc.message} {exc.context}"))
    return DriversOutput(screening=screening, skipped=skipped, estimates=estimates)


@dataclass(frozen=True)
class GrangerInputs:
    spec: GrangerSpec
    series: dict[str, MetricSeries]
    aggregation: dict[str, Aggregation]


def compute_granger(inputs: GrangerInputs) -> tuple[GrangerResult, TableReport]:
    spec = inputs.spec
    table = build_analysis_table(inputs.series, frequency=spec.frequency, aggregation=inputs.aggregation)
    result = granger_causality(
        table.frame,
        cause=spec.cause,
        effect=spec.effect,
        max_lag=spec.max_lag,
        alpha=spec.alpha,
        difference=spec.difference,
    )
    return result, table.report
