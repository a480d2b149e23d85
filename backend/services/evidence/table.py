"""Build and check the analysis table: one row per time bucket, one column per metric.

Input is plain data — for each metric a sequence of ``(timestamp, value)`` pairs —
so the service layer can hand over whatever its repository read. Output is a
pandas frame plus a :class:`TableReport` saying what was aligned and what was lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from backend.services.errors import ValidationFailed
from backend.services.evidence.types import TableReport
from backend.utils.frequency import pandas_code

Aggregation = Literal["sum", "mean", "last"]
MetricSeries = Sequence[tuple[datetime, float]]

# Below this many aligned rows no estimate is worth reporting, whatever the model size.
MIN_OBSERVATIONS = 20
# Rule of thumb for linear adjustment: about ten observations per estimated coefficient.
OBSERVATIONS_PER_PARAMETER = 10
# Relative singular-value cut-off for "perfectly" collinear columns (after standardising).
COLLINEARITY_TOLERANCE = 1e-8


@dataclass(frozen=True)
class AnalysisTable:
    """The aligned table (index: bucket start, UTC, naive) and how it was built."""

    frame: pd.DataFrame
    report: TableReport


def lag_column(treatment: str, lag: int) -> str:
    """Name of the column holding ``treatment`` shifted by ``lag`` buckets."""
    return f"{treatment}_lag{lag}"


def _naive_utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def _to_series(name: str, points: MetricSeries) -> pd.Series:
    if not points:
        raise ValidationFailed(f"Metric '{name}' has no observations.", context={"metric": name})
    stamps = pd.to_datetime([ts for ts, _ in points], utc=True).tz_convert(None)
    values = pd.to_numeric(pd.Series([v for _, v in points], index=stamps, dtype="float64"), errors="coerce")
    return values[np.isfinite(values.to_numpy())].sort_index()


def build_analysis_table(
    series: Mapping[str, MetricSeries],
    *,
    frequency: str = "D",
    aggregation: Mapping[str, Aggregation] | None = None,
    treatment: str | None = None,
    lags: Sequence[int] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> AnalysisTable:
    """Align metric series on a common frequency and add lags of the treatment.

    ``frequency`` is a pandas offset alias ("h", "D", "W-MON", "MS", …). Each metric
    is aggregated into buckets with its own rule (default "mean"; use "sum" for flows
    such as revenue or spend). ``lags`` adds ``<treatment>_lag<k>`` columns holding the
    treatment k buckets earlier. Buckets where any column is missing are dropped, and
    the report counts them per column.
    """
    if not series:
        raise ValidationFailed("No metrics were given.")
    if lags and treatment is None:
        raise ValidationFailed("Lags need the treatment metric to be named.")
    if treatment is not None and treatment not in series:
        raise ValidationFailed(
            f"Treatment '{treatment}' is not among the metrics.", context={"treatment": treatment}
        )
    if any(lag < 1 for lag in lags):
        raise ValidationFailed(
            "Lags must be positive whole numbers of buckets.", context={"lags": list(lags)}
        )
    rules = dict(aggregation or {})
    try:
        offset = pd.tseries.frequencies.to_offset(pandas_code(frequency))
    except ValueError as exc:
        raise ValidationFailed(f"Unknown frequency '{frequency}'.", context={"frequency": frequency}) from exc

    bucketed: dict[str, pd.Series] = {}
    for name, points in series.items():
        raw = _to_series(name, points)
        if start is not None:
            raw = raw[raw.index >= _naive_utc(start)]
        if end is not None:
            raw = raw[raw.index < _naive_utc(end)]
        resampler = raw.resample(offset)
        rule = rules.get(name, "mean")
        # min_count=1 leaves an empty bucket missing; a plain sum would report 0 for it.
        bucketed[name] = resampler.sum(min_count=1) if rule == "sum" else getattr(resampler, rule)()

    non_empty = [s.index for s in bucketed.values() if len(s)]
    if not non_empty:
        raise ValidationFailed("No observations fall inside the requested window.")
    # A regular grid makes a lag of k mean k buckets even where some metric has gaps.
    grid = pd.date_range(min(i.min() for i in non_empty), max(i.max() for i in non_empty), freq=offset)
    frame = pd.DataFrame({name: s.reindex(grid) for name, s in bucketed.items()}, index=grid)
    lag_columns: list[str] = []
    if treatment is not None:
        for lag in sorted(set(lags)):
            column = lag_column(treatment, lag)
            frame[column] = frame[treatment].shift(lag)
            lag_columns.append(column)

    seen = frame[list(series)].notna().any(axis=1)
    frame = frame[seen]
    missing = frame.isna()
    aligned = frame[~missing.any(axis=1)]
    report = TableReport(
        frequency=offset.freqstr,
        rows=len(aligned),
        start=aligned.index.min().to_pydatetime() if len(aligned) else None,
        end=aligned.index.max().to_pydatetime() if len(aligned) else None,
        columns=list(aligned.columns),
        buckets_seen=len(frame),
        dropped_rows=len(frame) - len(aligned),
        dropped_by_column={c: int(n) for c, n in missing.sum().items() if n},
        treatment_lag_columns=lag_columns,
    )
    return AnalysisTable(frame=aligned.astype("float64"), report=report)


def is_binary(values: pd.Series) -> bool:
    """True when the column only takes the values 0 and 1 (both present)."""
    return set(np.unique(values.to_numpy())) == {0.0, 1.0}


def validate_design(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    confounders: Sequence[str],
) -> pd.DataFrame:
    """Check a frame is fit for effect estimation and return its numeric, complete copy.

    Raises :class:`ValidationFailed` (HTTP 422) for unknown or non-numeric columns, too
    few complete rows, a constant treatment (or a binary one with an empty group) and
    perfectly collinear confounders — the cases where no estimate would mean anything.
    """
    columns = [treatment, outcome, *confounders]
    if len(set(columns)) != len(columns):
        raise ValidationFailed(
            "Treatment, outcome and confounders must be distinct columns.", context={"columns": columns}
        )
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise ValidationFailed("Unknown columns.", context={"unknown": unknown})
    data = frame[columns].apply(pd.to_numeric, errors="coerce").astype("float64")
    data = data[np.isfinite(data.to_numpy()).all(axis=1)].reset_index(drop=True)

    needed = max(MIN_OBSERVATIONS, OBSERVATIONS_PER_PARAMETER * (len(confounders) + 2))
    if len(data) < needed:
        raise ValidationFailed(
            "Too few aligned observations for this analysis.",
            context={"observations": len(data), "required": needed, "confounders": len(confounders)},
        )
    if data[treatment].nunique() < 2:
        raise ValidationFailed(
            "The treatment never changes, so its effect cannot be estimated.",
            context={"treatment": treatment, "value": float(data[treatment].iloc[0])},
        )
    if data[outcome].nunique() < 2:
        raise ValidationFailed("The outcome never changes.", context={"outcome": outcome})
    _check_collinearity(data, treatment, list(confounders))
    return data


def _check_collinearity(data: pd.DataFrame, treatment: str, confounders: list[str]) -> None:
    design = data[[treatment, *confounders]]
    spread = design.std(ddof=0)
    constant = [c for c in confounders if spread[c] == 0]
    if constant:
        raise ValidationFailed(
            "Some confounders are constant (collinear with the intercept).", context={"collinear": constant}
        )
    standardised = ((design - design.mean()) / spread).to_numpy()
    singular = np.linalg.svd(standardised, compute_uv=False)
    if singular[-1] > COLLINEARITY_TOLERANCE * singular[0]:
        return
    # Name the culprits: columns whose removal restores full rank.
    full_rank = np.linalg.matrix_rank(standardised, tol=COLLINEARITY_TOLERANCE * singular[0])
    culprits = [
        name
        for i, name in enumerate(design.columns)
        if np.linalg.matrix_rank(np.delete(standardised, i, axis=1), tol=COLLINEARITY_TOLERANCE * singular[0])
        == full_rank
    ]
    raise ValidationFailed(
        "Treatment and confounders are perfectly collinear; their effects cannot be told apart.",
        context={"collinear": culprits},
    )


def independent_columns(data: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns, in order, that each add information beyond the intercept and those before them.

    Used after trimming, where a confounder can become constant or a combination of others
    (all remaining units share a value): such a column no longer confounds anything there.
    """
    kept: list[str] = []
    basis = np.ones((len(data), 1))
    rank = 1
    for column in columns:
        candidate = np.column_stack([basis, data[column].to_numpy(dtype="float64")])
        scale = np.abs(candidate).max(axis=0)
        scale[scale == 0] = 1.0
        # Scale columns to comparable size so the rank tolerance means the same for dollars and dummies.
        if np.linalg.matrix_rank(candidate / scale) > rank:
            kept.append(column)
            basis, rank = candidate, rank + 1
    return kept
