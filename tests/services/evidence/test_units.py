"""Unit-level studies on simulated units with a known truth: the overall effect with all 25
covariates, segment effects and the heterogeneity test, an A/B test, the run-or-queue rule,
and every bad input named (row, column, code)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.evidence import service, unit_service
from backend.services.evidence.types import MAX_ADJUSTMENT_COLUMNS, MIN_UNITS, AnalysisSpec, UnitStudySpec
from backend.services.evidence.units import (
    UnitStudyInputs,
    compute_overall,
    compute_unit_study,
    frame_rows,
    study_table,
)
from backend.services.workload import Requester
from tests.services.evidence.unit_synthetic import ab_test, ab_test_spec, confounded_units

COVARIATES = [f"x{i + 1}" for i in range(25)]
FAST: dict[str, Any] = {"refutation_simulations": 10, "compare_methods": False}


def _spec(covariates: list[str], **overrides: Any) -> UnitStudySpec:
    fields = {"unit_id": "unit", "treatment": "treatment", "outcome": "outcome", "covariates": covariates}
    return UnitStudySpec(**{**fields, **FAST, **overrides})


def _inputs(frame: pd.DataFrame, spec: UnitStudySpec) -> UnitStudyInputs:
    return UnitStudyInputs(spec=spec, rows=frame_rows(frame))


def _problem(frame: pd.DataFrame | list[dict[str, Any]], spec: UnitStudySpec) -> ValidationFailed:
    rows = frame if isinstance(frame, list) else frame_rows(frame)
    with pytest.raises(ValidationFailed) as caught:
        compute_unit_study(UnitStudyInputs(spec=spec, rows=rows))
    return caught.value


def test_the_25_covariate_study_adjusts_for_all_25_and_dropping_five_loses_accuracy() -> None:
    frame = confounded_units(n=1000, covariates=25, effect=1.0, seed=11, strength=0.3)
    inputs = _inputs(frame, _spec(COVARIATES))
    full = compute_overall(inputs.spec, study_table(inputs))
    capped_inputs = _inputs(frame, _spec(COVARIATES[:20]))
    capped = compute_overall(capped_inputs.spec, study_table(capped_inputs))

    assert full.adjustment_set == COVARIATES
    assert full.estimate.ci_low <= 1.0 <= full.estimate.ci_high
    # Omitting five confounders biases by about 5·0.09 / (25·0.09 + 1) ≈ 0.14; the standard error is ≈ 0.03.
    assert abs(full.estimate.value - 1.0) < 0.08
    assert abs(capped.estimate.value - 1.0) > abs(full.estimate.value - 1.0) + 0.06
    assert full.verdict == "supported", full.reasons


def test_segment_effects_recover_the_known_truth_and_the_difference_is_detected() -> None:
    truth = {"north": 1.0, "south": 2.0, "east": 1.0}
    frame = confounded_units(n=900, covariates=4, effect=truth, seed=5, tiny_segment=12)
    result = compute_unit_study(_inputs(frame, _spec(COVARIATES[:4], segment="segment")))

    assert result.segments is not None
    by_name = {e.segment: e for e in result.segments.effects}
    assert by_name["tiny"].status == "too_small" and by_name["tiny"].value is None
    assert "30" in (by_name["tiny"].reason or "")
    for name, effect in truth.items():
        estimate = by_name[name]
        assert estimate.status == "estimated"
        assert estimate.ci_low is not None and estimate.ci_high is not None
        assert estimate.ci_low - 0.05 <= effect <= estimate.ci_high + 0.05, estimate
    assert result.segments.heterogeneity is not None
    assert result.segments.heterogeneity.heterogeneous
    assert result.segments.heterogeneity.df == 2


def test_equal_segment_effects_are_not_called_heterogeneous() -> None:
    frame = confounded_units(n=600, covariates=3, effect=1.5, seed=8)
    result = compute_unit_study(_inputs(frame, _spec(COVARIATES[:3], segment="segment")))
    assert result.segments is not None and result.segments.heterogeneity is not None
    assert result.segments.heterogeneity.p_value > 0.01
    assert all(e.status == "estimated" for e in result.segments.effects)


def test_an_ab_test_table_recovers_the_lift_with_categorical_covariates() -> None:
    frame = ab_test(n=800, lift=3.0, seed=1)
    spec = ab_test_spec(segment="device", **FAST)
    result = compute_unit_study(_inputs(frame, spec))

    assert result.units == 800 and result.treated == 400
    assert result.reference_levels == {"device": "mobile"}
    assert result.encoded == {"device": ["device_desktop", "device_tablet"]}
    assert result.result.binary_treatment
    assert result.result.estimate.ci_low <= 3.0 <= result.result.estimate.ci_high
    assert result.result.verdict == "supported", result.result.reasons
    assert result.segments is not None
    assert {e.segment for e in result.segments.effects} == {"desktop", "mobile", "tablet"}


def test_a_null_effect_is_not_supported() -> None:
    frame = confounded_units(n=500, covariates=5, effect=0.0, seed=3)
    result = compute_unit_study(_inputs(frame, _spec(COVARIATES[:5])))
    assert result.result.verdict == "not_supported"
    assert result.result.estimate.ci_low <= 0.0 <= result.result.estimate.ci_high


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def small() -> pd.DataFrame:
    return confounded_units(n=120, covariates=3, effect=1.0, seed=2)


def test_a_treatment_without_variation_is_named(small: pd.DataFrame) -> None:
    small["treatment"] = 1.0
    problem = _problem(small, _spec(COVARIATES[:3]))
    assert problem.code == "treatment_without_variation" and problem.context["treatment"] == "treatment"


def test_constant_and_collinear_covariates_are_named(small: pd.DataFrame) -> None:
    small["flat"] = 7.0
    assert _problem(small, _spec([*COVARIATES[:3], "flat"])).context["collinear"] == ["flat"]
    small["sum"] = small["x1"] + small["x2"]
    collinear = _problem(small, _spec([*COVARIATES[:3], "sum"])).context["collinear"]
    assert set(collinear) == {"x1", "x2", "sum"}


def test_too_few_units_is_refused_with_the_documented_minimum(small: pd.DataFrame) -> None:
    problem = _problem(small.head(MIN_UNITS - 1), _spec(COVARIATES[:3]))
    assert problem.code == "too_few_units" and problem.context["required"] == MIN_UNITS
    # Ten units per coefficient: 60 units cannot carry 25 covariates.
    wide = confounded_units(n=60, covariates=25, effect=1.0, seed=2)
    assert "Too few" in _problem(wide, _spec(COVARIATES)).message


def test_unknown_columns_are_named(small: pd.DataFrame) -> None:
    problem = _problem(small, _spec([*COVARIATES[:3], "age"], segment="Region"))
    assert problem.code == "unknown_columns" and problem.context["unknown"] == ["age", "region"]


def test_duplicate_unit_ids_and_bad_cells_are_named_by_row_and_column(small: pd.DataFrame) -> None:
    rows = frame_rows(small)
    rows[7]["unit"] = rows[2]["unit"]
    rows[9]["x2"] = "12,5"
    rows[10]["outcome"] = None
    rows[11]["x1"] = "1\x00"
    errors = _problem(rows, _spec(COVARIATES[:3])).problems
    assert {(e.row, e.column) for e in errors} == {(7, "unit"), (9, "x2"), (10, "outcome"), (11, "x1")}
    assert "repeats row 2" in next(e.message for e in errors if e.row == 7)


def test_categorical_and_column_caps_are_enforced() -> None:
    frame = confounded_units(n=300, covariates=2, effect=1.0, seed=4)
    frame["shop"] = [f"s{i % 60}" for i in range(300)]
    problem = _problem(frame, _spec(COVARIATES[:2], categorical=["shop"]))
    assert problem.code == "too_many_levels" and problem.context["levels"] == {"shop": 60}
    many = [f"c{i}" for i in range(MAX_ADJUSTMENT_COLUMNS + 1)]
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(50, len(many))), columns=many)
    wide = pd.concat([frame.head(50).reset_index(drop=True), wide], axis=1)
    assert _problem(wide, _spec(many)).code == "too_many_covariates"


def test_a_binary_treatment_needs_ten_units_per_arm() -> None:
    frame = ab_test(n=200, lift=3.0, seed=2)
    frame["variant_b"] = 0.0
    frame.loc[frame.index[:5], "variant_b"] = 1.0
    spec = UnitStudySpec(unit_id="visitor", treatment="variant_b", outcome="order_value", **FAST)
    problem = _problem(frame, spec)
    assert problem.code == "too_few_units" and problem.context["treated"] == 5


# --------------------------------------------------------------------------- run or queue


def test_heavy_studies_go_to_a_job_counting_covariates_rows_and_simulations() -> None:
    frame = confounded_units(n=1000, covariates=25, effect=1.0, seed=1)
    spec = _spec(COVARIATES, refutation_simulations=20)
    table = unit_service.table_from_json(spec, frame_rows(frame))
    # 1,000 units x 27 x 20 = 540,000 > 400,000; the same units with 5 covariates stay in the request.
    assert unit_service.background_reason(spec, table) is not None
    light = _spec(COVARIATES[:5], refutation_simulations=20)
    light_table = unit_service.table_from_json(light, frame_rows(frame))
    assert unit_service.background_reason(light, light_table) is None
    assert (
        Requester(wants_job=True).queue_reason(unit_service.background_reason(light, light_table))
        == "requested"
    )


def test_metric_analyses_with_many_confounders_go_to_a_job() -> None:
    two_years = {"revenue": 730}
    many = AnalysisSpec(outcome="revenue", treatment="ad", confounders=[f"c{i}" for i in range(25)])
    few = AnalysisSpec(outcome="revenue", treatment="ad", confounders=["a", "b", "c"])
    # Rows x simulations alone (14,600) is far below the old limit: only the graph size sends it away.
    assert service.background_reason(many, two_years) is not None
    assert service.background_reason(few, two_years) is None


def test_a_segment_column_with_too_many_levels_is_refused_before_any_estimate() -> None:
    frame = confounded_units(n=300, covariates=2, effect=1.0, seed=4)
    frame["store"] = [f"s{i % 75}" for i in range(300)]
    problem = _problem(frame, _spec(COVARIATES[:2], segment="store"))
    assert problem.code == "too_many_levels" and problem.context["levels"] == {"store": 75}


def test_a_one_hot_column_never_overwrites_a_numeric_covariate_of_the_same_name() -> None:
    frame = ab_test(n=300, lift=3.0, seed=5)
    frame["device_desktop"] = np.random.default_rng(1).normal(size=300)
    spec = UnitStudySpec(
        unit_id="visitor",
        treatment="variant_b",
        outcome="order_value",
        covariates=["visits", "device_desktop"],
        categorical=["device"],
        randomized=True,
        **FAST,
    )
    table = study_table(_inputs(frame, spec))
    assert table.encoded == {"device": ["device_desktop_", "device_tablet"]}
    assert np.allclose(table.frame["device_desktop"].to_numpy(), frame["device_desktop"].to_numpy())
