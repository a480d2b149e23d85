"""A causal analysis of metric time series: design, estimate, time-series refutations, lag effects.

Wraps :func:`analyze_effect` (DoWhy: identification, estimators, refuters, sensitivity) with
the time-series design of :mod:`design` and the refutations of :mod:`temporal`. With
``design="levels"`` the series are analysed as a cross-section (the former behaviour), which a
careful analyst would not sign for trending data: such a verdict is at most *fragile*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from backend.services.evidence.causal import CausalSettings, Edge, analyze_effect
from backend.services.evidence.design import apply_time_series_design, calendar_frame, stationarity
from backend.services.evidence.table import lag_column
from backend.services.evidence.temporal import (
    lag_effects,
    lead_column,
    negative_control,
    placebo_in_time,
    rolling_windows,
)
from backend.services.evidence.types import (
    CausalResult,
    DesignKind,
    EstimationMethod,
    RefutationOutcome,
    TargetUnits,
    TimeSeriesDesign,
)
from backend.utils.frequency import pandas_code

LEVELS_CAVEAT = (
    "The series were analysed in levels as if each bucket were an independent unit (design "
    "'levels'): shared trends and autocorrelation are not handled, so the interval may be far too narrow."
)


LONG_RUN_NOTE = (
    "With lags, the lags enter as changes from today's lever (lag_k - lever), so the main estimate, its "
    "refutations and the verdict are about the long-run effect of a sustained change; lag_effects gives "
    "the same-bucket and the cumulative effect."
)


@dataclass(frozen=True)
class SeriesQuestion:
    """What to estimate on an aligned metric table (index: bucket starts)."""

    treatment: str
    outcome: str
    confounders: Sequence[str]
    lags: Sequence[int]
    edges: Sequence[Edge]
    method: EstimationMethod
    target_units: TargetUnits
    randomized: bool
    frequency: str
    design: DesignKind
    holiday_country: str | None
    negative_controls: Sequence[str] = ()


def analyze_series(frame: pd.DataFrame, question: SeriesQuestion, settings: CausalSettings) -> CausalResult:
    """Estimate, refute and judge the lever's effect on the outcome with the chosen design.

    With lags (default graph) the lags enter as ``lag_k - lever`` (an exact reparametrisation
    of the distributed lag), so the lever's coefficient — the main estimate, its refuters,
    sensitivity and verdict — is the long-run effect of a sustained change; ``lag_effects``
    gives the immediate and cumulative effects with their intervals.
    """
    if question.design == "levels":
        return _levels(frame, question, settings)
    q = question
    lag_pairs = [(lag, lag_column(q.treatment, lag)) for lag in sorted(set(q.lags))]
    lag_names = [name for _, name in lag_pairs]
    graph_nodes = sorted({n for e in q.edges for n in e if n in frame.columns} - {q.treatment, q.outcome})
    adjust = graph_nodes if q.edges else [*q.confounders, *lag_names]
    # The lever's next bucket, on the regular grid, for the placebo in time (not a model column).
    offset = pd.tseries.frequencies.to_offset(pandas_code(q.frequency))
    lead = frame[q.treatment].shift(-1, freq=offset).reindex(frame.index).rename(lead_column(q.treatment))
    designed = apply_time_series_design(
        frame.assign(**{str(lead.name): lead}),
        treatment=q.treatment,
        outcome=q.outcome,
        adjust=adjust,
        frequency=q.frequency,
        holiday_country=q.holiday_country,
        extra=[*q.negative_controls, str(lead.name)],
    )
    design, hac = designed.design, designed.design.hac_lags
    data = designed.frame.drop(columns=[str(lead.name)])
    effects = None
    if lag_pairs and not q.edges:
        effects = lag_effects(
            data,
            treatment=q.treatment,
            outcome=q.outcome,
            lags=lag_pairs,
            controls=[*q.confounders, *designed.calendar_columns],
            hac_lags=hac,
            level=settings.confidence_level,
            method_n=len(data),
        )
        data = data.assign(**{change_column(n): data[n] - data[q.treatment] for n in lag_names}).drop(
            columns=lag_names
        )
        adjust = [*q.confounders, *(change_column(n) for n in lag_names)]
        design = design.model_copy(update={"note": f"{design.note} {LONG_RUN_NOTE}"})
    controls = [*adjust, *designed.calendar_columns]
    checks: list[RefutationOutcome] = [
        placebo_in_time(
            data,
            designed.frame[str(lead.name)],
            treatment=q.treatment,
            outcome=q.outcome,
            controls=controls,
            hac_lags=hac,
        ),
        rolling_windows(data, treatment=q.treatment, outcome=q.outcome, controls=controls, hac_lags=hac),
        *(
            negative_control(data, control_outcome=nc, treatment=q.treatment, controls=controls, hac_lags=hac)
            for nc in q.negative_controls
        ),
    ]
    edges = [*q.edges, *_calendar_edges(designed.calendar_columns, q)] if q.edges else None
    result = analyze_effect(
        data.drop(columns=list(q.negative_controls)),
        treatment=q.treatment,
        outcome=q.outcome,
        confounders=[] if q.edges else controls,
        method=q.method,
        target_units=q.target_units,
        edges=edges,
        randomized=q.randomized,
        settings=replace(settings, hac_lags=hac, strict_verdict=True),
        extra_refutations=checks,
        sensitivity_benchmarks=q.confounders,
        substantive_confounders=None if q.edges else q.confounders,
    )
    return result.model_copy(update={"design": design, "lag_effects": effects})


def change_column(lag_name: str) -> str:
    """``lag_k - lever``: with these as controls, the lever's coefficient is the long-run effect."""
    return f"{lag_name}_minus_now"


def _calendar_edges(columns: Sequence[str], q: SeriesQuestion) -> list[Edge]:
    """With a user graph, each calendar term is a common cause of lever and outcome."""
    return [edge for c in columns for edge in ((c, q.treatment), (c, q.outcome))]


def _levels(frame: pd.DataFrame, q: SeriesQuestion, settings: CausalSettings) -> CausalResult:
    lag_pairs = [(lag, lag_column(q.treatment, lag)) for lag in sorted(set(q.lags))]
    lag_names = [name for _, name in lag_pairs]
    result = analyze_effect(
        frame,
        treatment=q.treatment,
        outcome=q.outcome,
        confounders=[] if q.edges else [*q.confounders, *lag_names],
        method=q.method,
        target_units=q.target_units,
        edges=q.edges or None,
        randomized=q.randomized,
        settings=replace(settings, strict_verdict=True),
        sensitivity_benchmarks=[c for c in q.confounders if c not in lag_names],
        substantive_confounders=None if q.edges else q.confounders,
        design_caveat=LEVELS_CAVEAT,
    )
    calendar = calendar_frame(pd.DatetimeIndex(frame.index), q.frequency, None).to_numpy()
    design = TimeSeriesDesign(
        kind="levels",
        transformation="levels",
        calendar_controls=[],
        holiday_country=None,
        stationarity=[stationarity(n, frame[n].to_numpy(), calendar) for n in (q.outcome, q.treatment)],
        hac_lags=None,
        note=LEVELS_CAVEAT,
    )
    effects = (
        lag_effects(
            frame,
            treatment=q.treatment,
            outcome=q.outcome,
            lags=lag_pairs,
            controls=list(q.confounders),
            hac_lags=None,
            level=settings.confidence_level,
            method_n=len(frame),
        )
        if lag_pairs and not q.edges
        else None
    )
    return result.model_copy(update={"design": design, "lag_effects": effects})
