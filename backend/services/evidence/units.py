"""Unit-level studies: the effect of a treatment across units, overall and by segment.

A cross-section of units (customers, stores, an A/B test's visitors) is analysed with the same
DoWhy estimators, refuters, overlap check and verdict as any cross-section (:func:`analyze_effect`;
no time-series design: units are not days). With a segment column, each segment's effect comes
from one linear model with treatment × segment interactions and shared covariate slopes (HC3
intervals), and a Wald test says whether the effects differ. Segments too small for an estimate
are reported as such, never estimated.

Pure computation: plain, picklable data in and out (it runs in the compute pool or a job thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from backend.services.errors import ValidationFailed
from backend.services.evidence.causal import analyze_effect, causal_settings
from backend.services.evidence.estimation import check_method
from backend.services.evidence.table import is_binary, validate_design
from backend.services.evidence.types import (
    MIN_SEGMENT_UNITS,
    MIN_UNITS_PER_ARM,
    CausalResult,
    HeterogeneityTest,
    SegmentEffect,
    SegmentReport,
    UnitStudyResult,
    UnitStudySpec,
)
from backend.services.evidence.unit_table import (
    UnitColumns,
    UnitTable,
    build_unit_table,
    json_rows,
    normalised_columns,
)

HETEROGENEITY_ALPHA = 0.05


def study_columns(spec: UnitStudySpec) -> UnitColumns:
    """The columns' roles of a study, names normalised as the table reads them."""
    return normalised_columns(
        UnitColumns(
            unit_id=spec.unit_id,
            treatment=spec.treatment,
            outcome=spec.outcome,
            covariates=spec.covariates,
            categorical=spec.categorical,
            segment=spec.segment,
        )
    )


@dataclass(frozen=True)
class UnitStudyInputs:
    spec: UnitStudySpec
    rows: list[dict[str, Any]]


def graph_work(units: int, adjustment_columns: int, simulations: int) -> int:
    """Size of a study for the run-or-queue rule: units × (adjustment columns + 2) × simulations."""
    return units * (adjustment_columns + 2) * simulations


def study_table(inputs: UnitStudyInputs) -> UnitTable:
    columns = study_columns(inputs.spec)
    return checked_table(build_unit_table(json_rows(inputs.rows, columns), columns), inputs.spec)


def checked_table(table: UnitTable, spec: UnitStudySpec) -> UnitTable:
    """422 unless the table can be analysed: treatment variation and arms, constant or collinear
    covariates, ten units per coefficient, a method that fits the treatment (cheap: run before queueing)."""
    _check_arms(table)
    data = validate_design(
        table.frame.reset_index(drop=True),
        treatment=table.treatment,
        outcome=table.outcome,
        confounders=table.adjustment,
    )
    check_method(data, table.treatment, spec.method, spec.target_units)
    return table


def _check_arms(table: UnitTable) -> None:
    treatment = table.frame[table.treatment]
    if treatment.nunique() < 2:
        raise ValidationFailed(
            "The treatment never changes, so its effect cannot be estimated.",
            code="treatment_without_variation",
            context={"treatment": table.treatment, "value": float(treatment.iloc[0])},
        )
    if is_binary(treatment):
        counts = treatment.value_counts()
        if counts.min() < MIN_UNITS_PER_ARM:
            raise ValidationFailed(
                f"A binary treatment needs at least {MIN_UNITS_PER_ARM} treated and "
                f"{MIN_UNITS_PER_ARM} untreated units.",
                code="too_few_units",
                context={"treated": int(counts.get(1.0, 0)), "untreated": int(counts.get(0.0, 0))},
            )


def compute_overall(spec: UnitStudySpec, table: UnitTable) -> CausalResult:
    return analyze_effect(
        table.frame.reset_index(drop=True),
        treatment=table.treatment,
        outcome=table.outcome,
        confounders=table.adjustment,
        method=spec.method,
        target_units=spec.target_units,
        randomized=spec.randomized,
        settings=causal_settings(spec),
    )


def compute_unit_study(inputs: UnitStudyInputs) -> UnitStudyResult:
    """Check the table, estimate and refute the overall effect, then the segment effects."""
    return analyse_table(study_table(inputs), inputs.spec)


def analyse_table(table: UnitTable, spec: UnitStudySpec) -> UnitStudyResult:
    """The study on a checked table (what the request's compute pool runs)."""
    return assemble(table, compute_overall(spec, table), segment_effects(table, spec.confidence_level))


def assemble(table: UnitTable, result: CausalResult, segments: SegmentReport | None) -> UnitStudyResult:
    treatment = table.frame[table.treatment]
    return UnitStudyResult(
        units=len(table.frame),
        treated=int((treatment == 1).sum()) if is_binary(treatment) else None,
        adjustment_columns=len(table.adjustment),
        encoded=table.encoded,
        reference_levels=table.reference_levels,
        result=result,
        segments=segments,
    )


# --------------------------------------------------------------------------- segments


def _segment_status(
    data: pd.DataFrame, treatment: str, binary: bool
) -> tuple[Literal["estimated", "too_small", "no_variation"], str | None]:
    if len(data) < MIN_SEGMENT_UNITS:
        return "too_small", f"{len(data)} units; a segment needs {MIN_SEGMENT_UNITS}"
    if data[treatment].nunique() < 2:
        return "no_variation", "the treatment takes one value in this segment"
    if binary:
        arms = data[treatment].value_counts()
        if arms.min() < MIN_UNITS_PER_ARM or len(arms) < 2:
            return "too_small", f"{int(arms.min())} units in one arm; each arm needs {MIN_UNITS_PER_ARM}"
    return "estimated", None


def segment_effects(table: UnitTable, confidence_level: float) -> SegmentReport | None:
    """Each estimable segment's effect with its interval, and a Wald test of equal effects."""
    if table.segments is None or table.segment is None:
        return None
    data = table.frame.reset_index(drop=True)
    labels = table.segments.reset_index(drop=True)
    binary = is_binary(data[table.treatment])
    statuses = {
        level: _segment_status(data[labels == level], table.treatment, binary)
        for level in sorted(set(labels))
    }
    estimable = [level for level, (status, _) in statuses.items() if status == "estimated"]
    fitted = _interaction_fit(data, labels, table, estimable) if estimable else None
    z = float(stats.norm.ppf(0.5 + confidence_level / 2))
    effects = []
    for level, (status, reason) in statuses.items():
        subset = data[labels == level]
        value = low = high = None
        if fitted is not None and level in estimable:
            estimate, error = _segment_estimate(fitted, estimable, level)
            value, low, high = estimate, estimate - z * error, estimate + z * error
        effects.append(
            SegmentEffect(
                segment=level,
                units=len(subset),
                treated=int((subset[table.treatment] == 1).sum()) if binary else None,
                status=status,
                value=value,
                ci_low=low,
                ci_high=high,
                reason=reason,
            )
        )
    heterogeneity = _wald(fitted, estimable) if fitted is not None and len(estimable) >= 2 else None
    return SegmentReport(
        segment=table.segment,
        min_units=MIN_SEGMENT_UNITS,
        effects=effects,
        heterogeneity=heterogeneity,
        note="Segment effects come from one linear model of the outcome on the treatment × segment, the "
        "segments and the covariates (shared slopes), with HC3 (heteroskedasticity-robust) intervals; "
        f"segments with fewer than {MIN_SEGMENT_UNITS} units (or {MIN_UNITS_PER_ARM} per arm) are not "
        "estimated and their units are left out of that model. The test asks whether the estimated "
        "segments' effects are all equal.",
    )


def _interaction_fit(
    data: pd.DataFrame, labels: pd.Series, table: UnitTable, estimable: Sequence[str]
) -> Any:
    """OLS of y on T×segment, segment intercepts and the covariates (those varying in the sample)."""
    keep = labels.isin(estimable).to_numpy()
    sample, groups = data[keep].reset_index(drop=True), labels[keep].reset_index(drop=True)
    design: dict[str, np.ndarray] = {}
    for level in estimable:
        member = (groups == level).to_numpy(dtype="float64")
        design[f"effect:{level}"] = member * sample[table.treatment].to_numpy()
        design[f"segment:{level}"] = member
    exog = pd.DataFrame(design)
    covariates = sample[table.adjustment]
    varying = covariates.loc[:, covariates.std(ddof=0) > 0]
    exog = pd.concat([exog, varying], axis=1)
    # Collinear covariates (e.g. a segment's one-hot level) would make the fit singular: keep the
    # columns that add rank, in order, after the effect and segment columns.
    exog = exog.iloc[:, _independent(exog.to_numpy())]
    result = sm.OLS(sample[table.outcome].to_numpy(), exog).fit(cov_type="HC3")
    missing = [f"effect:{level}" for level in estimable if f"effect:{level}" not in exog.columns]
    if missing:
        raise ValidationFailed(
            "A segment's treatment is collinear with its covariates.", context={"segments": missing}
        )
    return result


def _independent(matrix: np.ndarray, tolerance: float = 1e-8) -> list[int]:
    """Indexes of the columns, in order, that each add rank to those kept before them.

    Incremental Gram–Schmidt (twice, for stability): O(rows × columns²) in all, where a rank test
    per column would cost a decomposition each.
    """
    basis = np.empty((matrix.shape[0], 0))
    kept: list[int] = []
    for index in range(matrix.shape[1]):
        column = matrix[:, index].astype("float64")
        norm = float(np.linalg.norm(column))
        if norm == 0:
            continue
        residual = column / norm
        for _ in range(2):
            residual = residual - basis @ (basis.T @ residual)
        remaining = float(np.linalg.norm(residual))
        if remaining > tolerance**0.5:
            basis = np.column_stack([basis, residual / remaining])
            kept.append(index)
    return kept


def _segment_estimate(fitted: Any, estimable: Sequence[str], level: str) -> tuple[float, float]:
    name = f"effect:{level}"
    return float(fitted.params[name]), float(fitted.bse[name])


def _wald(fitted: Any, estimable: Sequence[str]) -> HeterogeneityTest:
    names = list(fitted.params.index)
    first = names.index(f"effect:{estimable[0]}")
    contrasts = np.zeros((len(estimable) - 1, len(names)))
    for row, level in enumerate(estimable[1:]):
        contrasts[row, names.index(f"effect:{level}")] = 1.0
        contrasts[row, first] = -1.0
    test = fitted.wald_test(contrasts, scalar=True, use_f=False)
    p_value = float(test.pvalue)
    return HeterogeneityTest(
        statistic=float(test.statistic),
        df=len(estimable) - 1,
        p_value=p_value,
        alpha=HETEROGENEITY_ALPHA,
        heterogeneous=p_value < HETEROGENEITY_ALPHA,
    )


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON rows (tests and the benchmark build studies from simulated frames)."""
    return [dict(row) for row in frame.to_dict(orient="records")]
